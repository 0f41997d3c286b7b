import { formatParams, parseParams, type Params } from './split';

export type UriScheme = 'sip' | 'sips' | 'tel';

export interface SipUri {
  scheme: UriScheme;
  /** Userinfo user part, still %-escaped; for tel: the number. */
  user: string | null;
  password: string | null;
  /** Host without brackets: IPv6 references are stored as bare addresses. */
  host: string;
  port: number | null;
  params: Params;
  /** `?a=b&c=d` headers, raw. */
  headers: string | null;
}

export class UriError extends Error {}

/** True for host names and addresses that RFC 3261 §25.1 `host` allows. */
function isValidHost(host: string): boolean {
  if (host.length === 0) return false;
  return /^[A-Za-z0-9.-]+$/.test(host) || /^[0-9A-Fa-f:.]+$/.test(host);
}

/** Parses a SIP, SIPS or tel URI (RFC 3261 §19.1, RFC 3966). Throws UriError when malformed. */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UriError(`URI without scheme: ${text}`);
  const scheme = text.slice(0, colon).toLowerCase();
  const rest = text.slice(colon + 1);
  if (scheme === 'tel') return parseTelUri(rest);
  if (scheme !== 'sip' && scheme !== 'sips') throw new UriError(`unsupported URI scheme: ${scheme}`);

  let headers: string | null = null;
  let body = rest;
  const q = body.indexOf('?');
  if (q >= 0) {
    headers = body.slice(q + 1);
    body = body.slice(0, q);
  }
  let user: string | null = null;
  let password: string | null = null;
  const at = body.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = body.slice(0, at);
    body = body.slice(at + 1);
    const pc = userinfo.indexOf(':');
    if (pc >= 0) {
      user = userinfo.slice(0, pc);
      password = userinfo.slice(pc + 1);
    } else {
      user = userinfo;
    }
    if (user === '') throw new UriError(`empty user part: ${text}`);
    if (/[\s<>"]/.test(userinfo)) throw new UriError(`invalid character in user part: ${text}`);
  }
  const semi = body.indexOf(';');
  const hostport = semi >= 0 ? body.slice(0, semi) : body;
  const params = semi >= 0 ? parseParams(body.slice(semi)) : new Map<string, string | null>();
  const { host, port } = parseHostPort(hostport, text);
  return { scheme, user, password, host, port, params, headers };
}

function parseTelUri(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi >= 0 ? rest.slice(0, semi) : rest;
  if (!/^\+?[0-9A-Fa-f*#.()\-]+$/.test(number)) throw new UriError(`invalid tel number: ${number}`);
  const params = semi >= 0 ? parseParams(rest.slice(semi)) : new Map<string, string | null>();
  return { scheme: 'tel', user: number, password: null, host: '', port: null, params, headers: null };
}

export function parseHostPort(hostport: string, context = hostport): { host: string; port: number | null } {
  let host: string;
  let portText: string | null = null;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new UriError(`unterminated IPv6 reference: ${context}`);
    host = hostport.slice(1, close);
    if (!/^[0-9A-Fa-f:.]+$/.test(host) || !host.includes(':'))
      throw new UriError(`invalid IPv6 reference: ${context}`);
    const after = hostport.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after !== '') throw new UriError(`junk after IPv6 reference: ${context}`);
  } else {
    const pc = hostport.indexOf(':');
    if (pc >= 0) {
      host = hostport.slice(0, pc);
      portText = hostport.slice(pc + 1);
    } else {
      host = hostport;
    }
    if (!isValidHost(host)) throw new UriError(`invalid host: ${context}`);
  }
  let port: number | null = null;
  if (portText !== null) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535)
      throw new UriError(`invalid port: ${context}`);
    port = Number(portText);
  }
  return { host, port };
}

/** `host` or `[v6]`, as it must appear in a URI or Via. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatUri(uri: SipUri): string {
  if (uri.scheme === 'tel') return `tel:${uri.user ?? ''}${formatParams(uri.params)}`;
  let out = `${uri.scheme}:`;
  if (uri.user !== null) out += uri.password !== null ? `${uri.user}:${uri.password}@` : `${uri.user}@`;
  out += formatHost(uri.host);
  if (uri.port !== null) out += `:${uri.port}`;
  out += formatParams(uri.params);
  if (uri.headers !== null) out += `?${uri.headers}`;
  return out;
}
