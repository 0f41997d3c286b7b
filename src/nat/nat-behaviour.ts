import type { StreamStats } from './rtpengine-pool';

/** The SIP-side verdict as the registrar and the B2BUA record it. */
interface NatVerdict {
  natted: boolean;
  reasons: readonly string[];
}

/**
 * What an operator wants to know about a phone's NAT. From SIP alone: none, nat, or cgnat (a
 * carrier NAT in 100.64/10 in front of the phone). Once rtpengine has learned where the phone's RTP
 * really comes from: cone when the NAT kept the port the SDP announced (port-preserving mapping;
 * a restricted cone lets the first packet in after the phone sent), symmetric when it chose a new
 * one (a mapping per destination; only latching on the phone's first packet reaches it).
 */
export type NatKind = 'none' | 'nat' | 'cgnat' | 'cone' | 'symmetric';

/** The verdict from SIP headers and the packet source. */
export function sipNatKind(verdict: NatVerdict | null): NatKind {
  if (!verdict?.natted) return 'none';
  return verdict.reasons.some((reason) => reason.includes('-shared:')) ? 'cgnat' : 'nat';
}

/**
 * The verdict refined by a leg's RTP: the first stream rtpengine has seen packets from, comparing
 * the port it learned with the port the SDP announced. Null when no packet has been learned yet
 * or the leg is not behind NAT.
 */
export function rtpNatKind(
  verdict: NatVerdict | null,
  streams: readonly StreamStats[] | null,
): NatKind | null {
  if (!verdict?.natted || !streams) return null;
  for (const stream of streams) {
    if (!stream.endpoint || !stream.advertised || stream.packets === 0) continue;
    return portOf(stream.endpoint) === portOf(stream.advertised) ? 'cone' : 'symmetric';
  }
  return null;
}

/** The best verdict available for a leg: from RTP when learned, else from SIP. */
export function natKind(verdict: NatVerdict | null, streams: readonly StreamStats[] | null): NatKind {
  return rtpNatKind(verdict, streams) ?? sipNatKind(verdict);
}

function portOf(hostPort: string): string {
  return hostPort.slice(hostPort.lastIndexOf(':') + 1);
}
