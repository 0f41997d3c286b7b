/**
 * Debian's Chromium, headless, driven by playwright-core (`scripts/ensure-debs.sh chromium`).
 * Fake microphone, microphone permission granted, loopback ICE allowed, and kept off the network:
 * every host name fails to resolve (IP literals still work), no proxy, no QUIC, no background
 * services. Only the certificate given is trusted beyond the system store.
 */
import * as fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function chromiumArgs(trustedSpkiHash: string): string[] {
  return [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--no-sandbox',
    `--ignore-certificate-errors-spki-list=${trustedSpkiHash}`,
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--no-proxy-server',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--disable-domain-reliability',
    '--no-first-run',
    '--no-default-browser-check',
  ];
}

export async function launchChromium(trustedSpkiHash: string): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install it with scripts/ensure-debs.sh chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs(trustedSpkiHash) });
}

/** What a page logged and threw, for failure messages. */
export function recordConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (message) => lines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => lines.push(`pageerror: ${error.message}`));
  return lines;
}
