import { isIPv6 } from 'node:net';
import { hasUriBreakingChar, isHostname } from './grammar';
import { formatParams, parseParamsStrict, type Params } from './split';
import { UriError } from './uri-error';

export { UriError };

export type UriScheme = 'sip' | 'sips' | 'tel';

export interface SipUri {
  /**
   * Lower-case scheme: `sip`, `sips` or `tel` from parseUri; parseAnyUri (and so From, To,
   * Contact) also yields other absoluteURI schemes, such as `http`, with the rest in `opaque`.
   */
  scheme: string;
  /** Userinfo user part, still %-escaped (see unescapeUri); for tel: the number. */
  user: string | null;
  password: string | null;
  /** Host without brackets: IPv6 references are stored as bare addresses. */
  host: string;
  port: number | null;
  params: Params;
  /** `?a=b&c=d` headers, raw. */
  headers: string | null;
  /** Schemes other than sip, sips and tel: everything after `scheme:`, as received. */
  opaque?: string;
}

/** The lower-case scheme of `text` when it starts with a well-formed `scheme:`, else null. */
export function uriScheme(text: string): string | null {
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const first = text.charCodeAt(0) | 0x20;
  if (first < 0x61 || first > 0x7a) return null;
  for (let i = 1; i < colon; i++) {
    const c = text.charCodeAt(i);
    const lower = c | 0x20;
    const ok =
      (lower >= 0x61 && lower <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
    if (!ok) return null;
  }
  return text.slice(0, colon).toLowerCase();
}

export function isSipUri(uri: SipUri): boolean {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}

/** Parses a SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966). Throws UriError otherwise. */
export function parseUri(text: string): SipUri {
  const scheme = uriScheme(text);
  if (scheme === null) throw new UriError(`URI without scheme: ${text}`);
  const rest = text.slice(scheme.length + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest, text);
  if (scheme === 'tel') return parseTelUri(rest, text);
  throw new UriError(`unsupported URI scheme: ${scheme}`);
}

/**
 * Like parseUri, but also accepts any other absoluteURI (RFC 3261 §25.1), as From, To and
 * Contact may carry one (RFC 4475 §3.3.4): it is kept opaque.
 */
export function parseAnyUri(text: string): SipUri {
  const scheme = uriScheme(text);
  if (scheme === null) throw new UriError(`URI without scheme: ${text}`);
  if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel') return parseUri(text);
  const opaque = text.slice(scheme.length + 1);
  if (opaque === '' || hasUriBreakingChar(opaque)) throw new UriError(`malformed ${scheme} URI: ${text}`);
  return {
    scheme,
    user: null,
    password: null,
    host: '',
    port: null,
    params: new Map(),
    headers: null,
    opaque,
  };
}

function parseSipUri(scheme: string, rest: string, text: string): SipUri {
  if (hasUriBreakingChar(rest)) throw new UriError(`invalid character in URI: ${text}`);
  let user: string | null = null;
  let password: string | null = null;
  let hostStart = 0;
  // "@" is legal only as the userinfo delimiter: user, password, params and headers escape it,
  // while "?" and ";" may appear unescaped in the user part (RFC 3261 §25.1 user-unreserved).
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pc = userinfo.indexOf(':');
    user = pc >= 0 ? userinfo.slice(0, pc) : userinfo;
    password = pc >= 0 ? userinfo.slice(pc + 1) : null;
    if (user === '') throw new UriError(`empty user part: ${text}`);
    hostStart = at + 1;
  }
  let hostEnd = hostStart;
  while (hostEnd < rest.length && rest[hostEnd] !== ';' && rest[hostEnd] !== '?') hostEnd++;
  const { host, port } = parseHostPort(rest.slice(hostStart, hostEnd), text);
  const q = rest.indexOf('?', hostEnd);
  const params = parseParamsStrict(q < 0 ? rest.slice(hostEnd) : rest.slice(hostEnd, q), text);
  const headers = q < 0 ? null : rest.slice(q + 1);
  return { scheme, user, password, host, port, params, headers };
}

function parseTelUri(rest: string, text: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi >= 0 ? rest.slice(0, semi) : rest;
  if (!/^\+?[0-9A-Fa-f*#.()-]+$/.test(number)) throw new UriError(`invalid tel number: ${text}`);
  const params = semi >= 0 ? parseParamsStrict(rest.slice(semi), text) : new Map<string, string | null>();
  return { scheme: 'tel', user: number, password: null, host: '', port: null, params, headers: null };
}

/** Parses `host`, `host:port`, `[v6]` or `[v6]:port` (RFC 3261 §25.1 hostport). */
export function parseHostPort(hostport: string, context = hostport): { host: string; port: number | null } {
  let host: string;
  let portText: string | null = null;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new UriError(`unterminated IPv6 reference: ${context}`);
    host = hostport.slice(1, close);
    if (!isIPv6(host)) throw new UriError(`invalid IPv6 reference: ${context}`);
    const after = hostport.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after !== '') throw new UriError(`junk after IPv6 reference: ${context}`);
  } else {
    const pc = hostport.indexOf(':');
    if (pc >= 0 && hostport.indexOf(':', pc + 1) >= 0)
      throw new UriError(`IPv6 address not enclosed in [ ] (RFC 5118 §4.2): ${context}`);
    host = pc >= 0 ? hostport.slice(0, pc) : hostport;
    if (pc >= 0) portText = hostport.slice(pc + 1);
    if (!isHostname(host)) throw new UriError(`invalid host: ${context}`);
  }
  let port: number | null = null;
  if (portText !== null) {
    port = parsePort(portText);
    if (port === null) throw new UriError(`invalid port: ${context}`);
  }
  return { host, port };
}

function parsePort(text: string): number | null {
  if (text.length === 0 || text.length > 5) return null;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  return value <= 65535 ? value : null;
}

/** `host` or `[v6]`, as it must appear in a URI or Via. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  if (uri.scheme === 'tel') return `tel:${uri.user ?? ''}${formatParams(uri.params)}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== null) out += uri.password !== null ? `${uri.user}:${uri.password}@` : `${uri.user}@`;
  out += formatHost(uri.host);
  if (uri.port !== null) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== null) out += `?${uri.headers}`;
  return out;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Decodes `%HH` escapes (RFC 3261 §19.1.2: an escaped character means the character itself),
 * reading the result as UTF-8. A `%` not followed by two hex digits is kept as it is.
 */
export function unescapeUri(text: string): string {
  if (!text.includes('%')) return text;
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const hi = bytes[i] === 0x25 && i + 2 < bytes.length ? hexValue(bytes[i + 1]) : -1;
    const lo = hi >= 0 ? hexValue(bytes[i + 2]) : -1;
    if (lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      out[n++] = bytes[i];
    }
  }
  return out.toString('utf8', 0, n);
}
