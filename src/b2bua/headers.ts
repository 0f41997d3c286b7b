import type { IncomingMessage, SipHeaders } from './srf-types';

/** Display name and user of a From/To header value. */
export interface Party {
  display: string | null;
  user: string | null;
  host: string;
  tag: string | null;
}

export function parseParty(value: string | undefined): Party {
  const text = value ?? '';
  const open = text.indexOf('<');
  const close = open >= 0 ? text.indexOf('>', open) : -1;
  const uri = open >= 0 && close > open ? text.slice(open + 1, close) : text.split(';')[0].trim();
  let display: string | null = null;
  if (open > 0) {
    const raw = text.slice(0, open).trim();
    display = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw || null;
  }
  const params =
    close > open && open >= 0
      ? text.slice(close + 1)
      : text.slice(text.indexOf(';') >= 0 ? text.indexOf(';') : text.length);
  const tag = /;\s*tag=([^;\s]+)/i.exec(params);
  const address = /^sips?:(?:([^@;?]*)@)?([^;?>]+)/i.exec(uri);
  return {
    display,
    user: address?.[1] ? decodeURIComponent(address[1]) : null,
    host: address?.[2] ?? '',
    tag: tag ? tag[1] : null,
  };
}

/** A display name as a quoted-string (RFC 3261 §25.1): quotes and backslashes escaped. */
function quoted(display: string): string {
  return `"${display.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * A name-addr for one of our own URIs. `localhost` is replaced by the SIP server with the address
 * of the interface the request leaves on, so the far side sees only Pinhole.
 */
export function ownNameAddr(user: string | null, display: string | null): string {
  const uri = user ? `sip:${encodeURIComponent(user).replace(/%2B/g, '+')}@localhost` : 'sip:localhost';
  return display ? `${quoted(display)} <${uri}>` : `<${uri}>`;
}

/** Chooses which of a request's headers cross to the other leg (`X-*` matches a prefix). */
export class HeaderFilter {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const pattern of patterns) {
      const lower = pattern.toLowerCase();
      if (lower.endsWith('*')) this.prefixes.push(lower.slice(0, -1));
      else this.exact.add(lower);
    }
  }

  /** Names are matched case-insensitively against the message's raw header names. */
  pick(message: IncomingMessage & { headers?: Record<string, string> }): SipHeaders {
    const picked: SipHeaders = {};
    const names = message.headers ? Object.keys(message.headers) : [...this.exact];
    for (const name of names) {
      const lower = name.toLowerCase();
      if (!this.exact.has(lower) && !this.prefixes.some((p) => lower.startsWith(p))) continue;
      const value = message.get(name);
      if (value !== undefined && value !== '') picked[name] = value;
    }
    return picked;
  }
}

export function supports100rel(message: IncomingMessage): boolean {
  return /\b100rel\b/i.test(`${message.get('Supported') ?? ''},${message.get('Require') ?? ''}`);
}
