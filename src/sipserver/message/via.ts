import { formatParams, parseParams, type Params } from './split';
import { formatHost, parseHostPort, UriError } from './uri';

export interface Via {
  /** e.g. `SIP/2.0` */
  protocol: string;
  /** Upper-case transport token: UDP, TCP, TLS, WS, WSS, SCTP… */
  transport: string;
  host: string;
  port: number | null;
  params: Params;
}

export const MAGIC_COOKIE = 'z9hG4bK';

/** Parses one Via element (RFC 3261 §20.42), e.g. `SIP/2.0/UDP host:5060;branch=z9hG4bK1`. */
export function parseVia(text: string): Via {
  const m =
    /^\s*([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([0-9.]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+([^;\s]+)\s*(.*)$/s.exec(
      text,
    );
  if (!m) throw new UriError(`malformed Via: ${text}`);
  const { host, port } = parseHostPort(m[4]);
  const params = parseParams(m[5]);
  if (m[5].trim() !== '' && !m[5].trim().startsWith(';'))
    throw new UriError(`malformed Via parameters: ${text}`);
  return { protocol: `${m[1].toUpperCase()}/${m[2]}`, transport: m[3].toUpperCase(), host, port, params };
}

export function formatVia(via: Via): string {
  const port = via.port !== null ? `:${via.port}` : '';
  return `${via.protocol}/${via.transport} ${formatHost(via.host)}${port}${formatParams(via.params)}`;
}

export function viaBranch(via: Via): string | null {
  return via.params.get('branch') ?? null;
}
