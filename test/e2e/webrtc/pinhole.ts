/**
 * A Pinhole for the browser tests: like test/support/pinhole.ts (phones and browser on 127.0.0.1,
 * PBX on 127.0.0.2, rtpengine external 127.0.0.1 / internal 127.0.0.2) plus a `wss://` SIP listener
 * on a generated self-signed certificate, and the softphone page served over HTTPS with the same
 * certificate, as a deployment would have it.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configSchema } from '../../../src/config/schema';
import { createLogger } from '../../../src/logging';
import { startPinhole, type RunningPinhole } from '../../../src/pinhole';
import { startSoftphoneServer, type SoftphoneServer } from '../../../src/web/softphone-server';
import { DEFAULT_ROUTING, PBX_IP, PHONE_IP, REALM } from '../../support/pinhole';
import { allocatePort } from '../../support/ports';

/** Away from test/support/pinhole.ts's 52000-52999, so both can run at once. */
const RTP_PORTS = '53000-53999';

export const USERS = { '1001': 'secret1001', '1002': 'secret1002' } as const;

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** base64 SHA-256 of the SubjectPublicKeyInfo, for Chromium's --ignore-certificate-errors-spki-list. */
  spkiHash: string;
}

/** A one-day self-signed ECDSA certificate for 127.0.0.1, made with openssl. */
export function makeCertificate(dir: string): TestCertificate {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', keyFile, '-out', certFile,
    ], // prettier-ignore
    { stdio: 'pipe' },
  );
  const cert = fs.readFileSync(certFile);
  const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return {
    certFile,
    keyFile,
    cert,
    key: fs.readFileSync(keyFile),
    spkiHash: createHash('sha256').update(spki).digest('base64'),
  };
}

export interface WebrtcPinhole {
  sipPort: number;
  wssPort: number;
  sipWebSocketUrl: string;
  pageUrl: string;
  certificate: TestCertificate;
  running: RunningPinhole;
  leftovers(): { calls: number; media: number; dialogs: number };
  stop(): Promise<void>;
}

export async function startWebrtcPinhole(options: { pbxPort: number }): Promise<WebrtcPinhole> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-webrtc-'));
  let running: RunningPinhole | undefined;
  let page: SoftphoneServer | undefined;
  try {
    const certificate = makeCertificate(dir);
    const sipPort = await allocatePort();
    const wssPort = await allocatePort();
    const ngPort = await allocatePort();
    fs.writeFileSync(path.join(dir, 'routing.yaml'), DEFAULT_ROUTING);
    fs.writeFileSync(
      path.join(dir, 'users.yaml'),
      Object.entries(USERS)
        .map(([user, password]) => `"${user}": {password: ${password}}\n`)
        .join(''),
    );
    const config = configSchema.parse({
      sip: {
        listen: [
          `udp://${PHONE_IP}:${sipPort}`,
          `tcp://${PHONE_IP}:${sipPort}`,
          `wss://${PHONE_IP}:${wssPort}`,
        ],
        tls: { cert: certificate.certFile, key: certificate.keyFile },
      },
      registrar: {
        domain: REALM,
        users: 'users.yaml',
        store: 'bindings.json',
        keepalive: { intervalSeconds: 0 },
      },
      pbx: { uri: `sip:${PBX_IP}:${options.pbxPort}` },
      calls: { routing: 'routing.yaml', ringTimeoutSeconds: 30 },
      media: {
        anchor: 'nat',
        rtpengine: {
          spawn: true,
          interfaces: { external: PHONE_IP, internal: PBX_IP },
          ports: RTP_PORTS,
          ng: [`127.0.0.1:${ngPort}`],
        },
      },
      log: { level: 'error' },
    });
    const logger = createLogger(process.env.PINHOLE_TEST_LOG ?? 'error');
    running = await startPinhole(config, dir, logger);
    const sipWebSocketUrl = `wss://${PHONE_IP}:${wssPort}`;
    page = await startSoftphoneServer({
      listen: { host: PHONE_IP, port: 0 },
      tls: { cert: certificate.cert, key: certificate.key },
      sipWebSocketUrl,
      logger: logger.child({ component: 'softphone' }),
    });
    const pinhole = running;
    const server = page;
    return {
      sipPort,
      wssPort,
      sipWebSocketUrl,
      pageUrl: server.url,
      certificate,
      running: pinhole,
      leftovers: () => ({
        calls: pinhole.b2bua.stats().active,
        media: pinhole.ngPool?.activeCalls ?? 0,
        dialogs: pinhole.sipServer?.stats().dialogs ?? 0,
      }),
      async stop() {
        await server.close();
        await pinhole.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await page?.close();
    await running?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
