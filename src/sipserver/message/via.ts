import { isToken } from './grammar';
import { formatParams, parseParamsStrict, type Params } from './split';
import { formatHost, parseHostPort } from './uri';
import { UriError } from './uri-error';

export interface Via {
  /** e.g. `SIP/2.0` */
  protocol: string;
  /** Upper-case transport token: UDP, TCP, TLS, WS, WSS, SCTP… */
  transport: string;
  host: string;
  port: number | null;
  /** Lower-case names. `received` is kept as sent, brackets and all (RFC 5118 §4.5). */
  params: Params;
}

export const MAGIC_COOKIE = 'z9hG4bK';

/** sent-protocol (LWS allowed around each '/'), sent-by, then the parameters. */
const VIA = /^\s*([^\s/]+)\s*\/\s*([^\s/]+)\s*\/\s*([^\s/]+)\s+([^;\s]+)(.*)$/s;

/** Parses one Via element (RFC 3261 §20.42), e.g. `SIP/2.0/UDP host:5060;branch=z9hG4bK1`. */
export function parseVia(text: string): Via {
  const m = VIA.exec(text);
  if (!m || !isToken(m[1]) || !isToken(m[2]) || !isToken(m[3])) throw new UriError(`malformed Via: ${text}`);
  const { host, port } = parseHostPort(m[4], text);
  const params = parseParamsStrict(m[5], text);
  return { protocol: `${m[1].toUpperCase()}/${m[2]}`, transport: m[3].toUpperCase(), host, port, params };
}

export function formatVia(via: Via): string {
  const port = via.port !== null ? `:${via.port}` : '';
  return `${via.protocol}/${via.transport} ${formatHost(via.host)}${port}${formatParams(via.params)}`;
}

export function viaBranch(via: Via): string | null {
  return via.params.get('branch') ?? null;
}
