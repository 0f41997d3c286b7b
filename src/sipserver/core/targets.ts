import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseUri, type SipUri } from '../message';
import type { ListeningPoint, SendTarget, TransportProtocol } from '../transport/types';

/** The transport a URI asks for (RFC 3261 §19.1.2, RFC 7118 `transport=ws`). */
export function uriTransport(uri: SipUri): TransportProtocol {
  const param = uri.params.get('transport')?.toLowerCase();
  if (param === 'tcp') return uri.scheme === 'sips' ? 'tls' : 'tcp';
  if (param === 'tls') return 'tls';
  if (param === 'ws') return uri.scheme === 'sips' ? 'wss' : 'ws';
  if (param === 'wss') return 'wss';
  return uri.scheme === 'sips' ? 'tls' : 'udp';
}

function defaultPort(protocol: TransportProtocol): number {
  switch (protocol) {
    case 'tls':
      return 5061;
    case 'ws':
      return 80;
    case 'wss':
      return 443;
    default:
      return 5060;
  }
}

/**
 * Where a request for `uriText` goes: its transport, address and port. Names resolve through
 * the system resolver (A/AAAA); SRV and NAPTR (RFC 3263) are not consulted, so targets with a
 * name should carry a port.
 */
export async function resolveTarget(uriText: string): Promise<SendTarget> {
  const uri = parseUri(uriText.replace(/^<|>$/g, ''));
  if (uri.scheme === 'tel') throw new Error(`cannot route a tel: URI without a proxy: ${uriText}`);
  const protocol = uriTransport(uri);
  const host = uri.params.get('maddr') ?? uri.host;
  const address = isIP(host) ? host : (await lookup(host)).address;
  return { protocol, address, port: uri.port ?? defaultPort(protocol) };
}

/**
 * The listening point a message to `target` leaves from, for Via and Contact: the one the target
 * names, else same transport and, among several, one of the same address family on the
 * destination's side (`routeScore`, e.g. LocalRoutes#score).
 */
export function pickLocal(
  points: ListeningPoint[],
  target: SendTarget,
  routeScore: (local: string, remote: string) => number = () => 0,
): ListeningPoint | undefined {
  const family = isIP(target.address) === 6 ? 6 : 4;
  const sameProtocol = points.filter((p) => p.protocol === target.protocol);
  const named = sameProtocol.find(
    (p) =>
      p.address === target.localAddress && (target.localPort === undefined || p.port === target.localPort),
  );
  if (named) return named;
  let best: ListeningPoint | undefined;
  let bestScore = -1;
  for (const point of sameProtocol) {
    const score =
      ((isIP(point.address) === 6 ? 6 : 4) === family ? 1e6 : 0) + routeScore(point.address, target.address);
    if (score > bestScore) {
      best = point;
      bestScore = score;
    }
  }
  return best ?? points.find((p) => p.protocol === 'udp');
}
