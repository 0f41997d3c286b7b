import type { LegKind } from '../nat/media-profiles';
import type { NatKind } from '../nat/nat-behaviour';
import type { StreamStats } from '../nat/rtpengine-pool';
import type { NatVerdict } from '../registrar';

export interface LegRecord {
  side: 'caller' | 'callee';
  callId: string | null;
  kind: LegKind;
  /** The URI the callee leg was sent to; null for the caller. */
  target: string | null;
  /** Where this leg's SIP came from (host:port for the caller). */
  address: string | null;
  transport: string;
  nat: NatVerdict | null;
  /** The NAT as its RTP showed it (cone/symmetric) when rtpengine learned a packet, else from SIP. */
  natType: NatKind | null;
  /** rtpengine's counters for the media this leg sent, per stream; null when not anchored. */
  media: StreamStats[] | null;
}

/** One JSON log line per call when it ends, however it ends. */
export interface CallRecord {
  event: 'call-record';
  callId: string;
  from: string | null;
  to: string | null;
  rule: string;
  legs: LegRecord[];
  anchored: boolean | null;
  anchorReason: string | null;
  startedAt: string;
  setupMs: number | null;
  durationMs: number;
  finalStatus: number | null;
  endReason: string;
  provisional: boolean;
}
