import type { CallRecord } from '../b2bua';
import type { NatKind } from '../nat/nat-behaviour';

/** Enough for every phone of a large edge; the oldest observation goes first. */
const MAX_OBSERVATIONS = 100_000;

/**
 * What the RTP of past calls showed about each phone's NAT (cone or symmetric), keyed by the SIP
 * source the phone registered from, so the registrations view can show more than SIP alone tells.
 */
export class NatObservations {
  private readonly byAddress = new Map<string, NatKind>();

  learn(record: CallRecord): void {
    for (const leg of record.legs) {
      if (leg.kind === 'pbx' || !leg.address) continue;
      if (leg.natType !== 'cone' && leg.natType !== 'symmetric') continue;
      this.remember(leg.address, leg.natType);
    }
  }

  /** By `ip:port` (a caller's flow), else by `ip` (a called phone's flow records only the address). */
  kindFor(address: string, port: number): NatKind | undefined {
    return this.byAddress.get(`${address}:${port}`) ?? this.byAddress.get(address);
  }

  private remember(key: string, kind: NatKind): void {
    this.byAddress.delete(key);
    this.byAddress.set(key, kind);
    if (this.byAddress.size > MAX_OBSERVATIONS)
      this.byAddress.delete(this.byAddress.keys().next().value as string);
  }
}
