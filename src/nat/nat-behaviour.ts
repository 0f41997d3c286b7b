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
 * The verdict refined by a leg's RTP: the first stream rtpengine has seen packets from. A NAT that
 * kept the port the SDP announced, on the address the SIP came from, maps per source (cone); a new
 * port, or another public address than the signalling's (a NAT pool without paired addresses),
 * means a mapping per destination (symmetric). Null when no packet has been learned yet or the leg
 * is not behind NAT. `sipAddress` is the address (no port) the leg's SIP came from, if known.
 */
export function rtpNatKind(
  verdict: NatVerdict | null,
  streams: readonly StreamStats[] | null,
  sipAddress?: string | null,
): NatKind | null {
  if (!verdict?.natted || !streams) return null;
  for (const stream of streams) {
    if (!stream.endpoint || !stream.advertised || stream.packets === 0) continue;
    const learned = splitEndpoint(stream.endpoint);
    const movedAddress = sipAddress ? learned.host !== sipAddress.replace(/^\[|\]$/g, '') : false;
    return !movedAddress && learned.port === splitEndpoint(stream.advertised).port ? 'cone' : 'symmetric';
  }
  return null;
}

/** The best verdict available for a leg: from RTP when learned, else from SIP. */
export function natKind(
  verdict: NatVerdict | null,
  streams: readonly StreamStats[] | null,
  sipAddress?: string | null,
): NatKind {
  return rtpNatKind(verdict, streams, sipAddress) ?? sipNatKind(verdict);
}

/** rtpengine's and the call snapshot's `address:port` (IPv6 unbracketed): the port is after the last colon. */
export function splitEndpoint(text: string): { host: string; port: string } {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: text.slice(colon + 1) };
}
