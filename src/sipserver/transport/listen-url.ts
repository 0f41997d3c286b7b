import { addressFamily, formatHostPort } from './address';
import type { ListeningPoint, TransportProtocol } from './types';

const PROTOCOLS: readonly TransportProtocol[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

/** Ports used when a URL names none: RFC 3261 §19.1.2 for SIP, RFC 6455 §3 for WebSocket. */
const DEFAULT_PORTS: Record<TransportProtocol, number> = {
  udp: 5060,
  tcp: 5060,
  tls: 5061,
  ws: 80,
  wss: 443,
};

/**
 * Reads a listen URL such as `udp://0.0.0.0:5060`, `tcp://[::1]:5090` or `ws://127.0.0.1:8088`.
 * The host must be an IP literal (IPv6 in brackets): a listener binds to an address, not a name.
 */
export function parseListenUrl(url: string): ListeningPoint {
  const fail = (why: string): never => {
    throw new Error(`invalid listen URL "${url}": ${why}`);
  };
  const schemeEnd = url.indexOf('://');
  if (schemeEnd < 0) fail('expected <protocol>://<address>:<port>');
  const protocol = url.slice(0, schemeEnd).toLowerCase() as TransportProtocol;
  if (!PROTOCOLS.includes(protocol)) fail(`protocol must be one of ${PROTOCOLS.join(', ')}`);

  let rest = url.slice(schemeEnd + 3);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  let address: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) fail('unclosed "[" around the IPv6 address');
    address = rest.slice(1, close);
    if (addressFamily(address) !== 6) fail(`"${address}" is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) fail('expected ":<port>" after the address');
      portText = after.slice(1);
    }
  } else {
    const colon = rest.indexOf(':');
    address = colon < 0 ? rest : rest.slice(0, colon);
    if (colon >= 0) portText = rest.slice(colon + 1);
    if (addressFamily(address) !== 4) {
      fail(
        address.includes(':') || portText?.includes(':')
          ? 'an IPv6 address must be written in brackets'
          : `"${address}" is not an IP address`,
      );
    }
  }
  return {
    protocol,
    address,
    port: portText === undefined ? DEFAULT_PORTS[protocol] : parsePort(portText, fail),
  };
}

export function formatListenUrl(point: ListeningPoint): string {
  return `${point.protocol}://${formatHostPort(point.address, point.port)}`;
}

function parsePort(text: string, fail: (why: string) => never): number {
  if (!/^[0-9]{1,5}$/.test(text)) fail(`port "${text}" is not a number`);
  const port = Number(text);
  if (port > 65535) fail(`port ${port} is out of range`);
  return port;
}
