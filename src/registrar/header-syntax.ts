/**
 * The few pieces of SIP header syntax the app reads (Contact, From, To, Via, Authorization; the
 * registrar and the B2BUA), parsed from the header text drachtio-srf hands over. Kept here rather
 * than borrowed from the embedded server so the app also works against a real drachtio-server.
 */

export class HeaderSyntaxError extends Error {}

/** Splits a header value at commas that are outside quotes and angle brackets. */
export function splitTopLevel(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') depth++;
    else if (c === '>') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      parts.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (quoted || depth !== 0) throw new HeaderSyntaxError('unbalanced quotes or angle brackets');
  parts.push(value.slice(start).trim());
  return parts.filter((p) => p !== '');
}

/** `;a=b;c` → Map (names lower-cased, a bare name maps to ''). */
export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const piece of text.split(';')) {
    const p = piece.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq < 0) params.set(p.toLowerCase(), '');
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return params;
}

export interface SipUri {
  scheme: 'sip' | 'sips';
  user: string | null;
  host: string;
  port: number | null;
  params: Map<string, string>;
}

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

export function parseSipUri(text: string): SipUri {
  const m = /^(sips?):(.*)$/i.exec(text.trim());
  if (!m) throw new HeaderSyntaxError(`not a sip: or sips: URI: ${text}`);
  const scheme = m[1].toLowerCase() as 'sip' | 'sips';
  let rest = m[2];
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  const at = rest.lastIndexOf('@');
  const user = at >= 0 ? rest.slice(0, at).split(':')[0] : null;
  if (user === '') throw new HeaderSyntaxError('empty user part');
  const hostAndParams = at >= 0 ? rest.slice(at + 1) : rest;
  const semi = hostAndParams.indexOf(';');
  const hostPort = semi >= 0 ? hostAndParams.slice(0, semi) : hostAndParams;
  const hp = HOST.exec(hostPort);
  if (!hp) throw new HeaderSyntaxError(`bad host in URI: ${text}`);
  const port = hp[2] !== undefined ? Number(hp[2]) : null;
  if (port !== null && (port < 1 || port > 65535)) throw new HeaderSyntaxError(`bad port in URI: ${text}`);
  return {
    scheme,
    user,
    host: hp[1].toLowerCase(),
    port,
    params: parseParams(semi >= 0 ? hostAndParams.slice(semi + 1) : ''),
  };
}

export interface NameAddr {
  /** The URI text exactly as sent (without angle brackets). */
  uriText: string;
  uri: SipUri;
  /** Header parameters (after the `>`, or after the URI in addr-spec form). */
  params: Map<string, string>;
}

/** name-addr or addr-spec (RFC 3261 §20.10: in addr-spec form the parameters are header params). */
export function parseNameAddr(text: string): NameAddr {
  const lt = text.indexOf('<');
  if (lt >= 0) {
    const gt = text.indexOf('>', lt);
    if (gt < 0) throw new HeaderSyntaxError('missing >');
    const uriText = text.slice(lt + 1, gt).trim();
    return { uriText, uri: parseSipUri(uriText), params: parseParams(text.slice(gt + 1)) };
  }
  const semi = text.indexOf(';');
  const uriText = (semi >= 0 ? text.slice(0, semi) : text).trim();
  return {
    uriText,
    uri: parseSipUri(uriText),
    params: parseParams(semi >= 0 ? text.slice(semi) : ''),
  };
}

export interface ViaTop {
  transport: string;
  host: string;
  port: number | null;
  params: Map<string, string>;
}

/** The first Via of a (possibly comma-joined) Via header value. */
export function parseTopVia(value: string): ViaTop {
  const first = splitTopLevel(value)[0] ?? '';
  const m = /^SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$/i.exec(first);
  if (!m) throw new HeaderSyntaxError(`bad Via: ${first}`);
  const hp = HOST.exec(m[2]);
  if (!hp) throw new HeaderSyntaxError(`bad Via sent-by: ${m[2]}`);
  return {
    transport: m[1].toUpperCase(),
    host: hp[1].toLowerCase(),
    port: hp[2] !== undefined ? Number(hp[2]) : null,
    params: parseParams(m[3] ?? ''),
  };
}

/** Auth params of a `Digest a=b, c="d"` credentials value (RFC 3261 §25.1 / RFC 7616). */
export function parseDigestCredentials(value: string): Map<string, string> | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(value);
  if (!m) return null;
  const params = new Map<string, string>();
  for (const part of splitTopLevel(m[1])) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"')) {
      if (!v.endsWith('"') || v.length < 2) return null;
      v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    params.set(part.slice(0, eq).trim().toLowerCase(), v);
  }
  return params;
}
