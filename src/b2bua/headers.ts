import { HeaderSyntaxError, parseNameAddr } from '../registrar/header-syntax';
import type { IncomingMessage, SipHeaders } from './srf-types';

/** A From/To/Contact header value or a Request-URI, as the call logic reads it. */
export interface Party {
  display: string | null;
  user: string | null;
  /** Without brackets for IPv6, lower case. */
  host: string;
  port: number | null;
  tag: string | null;
}

const NOBODY: Party = { display: null, user: null, host: '', port: null, tag: null };

/** Lenient: a value the SIP server let through but that is not a sip: name-addr reads as nobody. */
export function parseParty(value: string | undefined): Party {
  const text = value ?? '';
  let nameAddr;
  try {
    nameAddr = parseNameAddr(text);
  } catch (err) {
    if (err instanceof HeaderSyntaxError) return NOBODY;
    throw err;
  }
  const open = text.indexOf('<');
  const raw = open > 0 ? text.slice(0, open).trim() : '';
  const display =
    raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw || null;
  const { user, host, port } = nameAddr.uri;
  return {
    display,
    user: user ? unescapeUser(user) : null,
    host: host.replace(/^\[|\]$/g, ''),
    port,
    tag: nameAddr.params.get('tag') || null,
  };
}

/** %-escapes decoded (RFC 3261 §19.1.2); a broken escape leaves the user part as it came. */
function unescapeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
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
