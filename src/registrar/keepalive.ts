import type { Binding } from './types';

export interface KeepaliveDeps {
  /** Sends OPTIONS along the binding's flow; resolves with the final status, rejects on a send error. */
  ping(binding: Binding): Promise<number>;
  /** Bindings this process keeps alive. */
  bindings(): Promise<Binding[]>;
  remove(binding: Binding, reason: string): Promise<void>;
  /** UDP bindings go after this many failures in a row; stream bindings after the first. */
  maxFailures: number;
}

/** Final statuses that mean nobody answered (ours, on timeout or a dead connection) rather than a reply. */
const NO_ANSWER = new Set([408, 503]);

/** Identity of a binding across rounds: same contact registered in the same Call-ID. */
function keyOf(b: Binding): string {
  return `${b.aor}|${b.contact}|${b.callId}`;
}

/**
 * Decides which bindings need keepalives and which keepalive failures cost a binding. NATed UDP
 * phones need the NAT mapping refreshed; streams need checking because a closed TCP/WS
 * connection is invisible to a drachtio app. Any SIP answer, even 404 or 501, proves the phone
 * is there.
 */
export class KeepaliveRound {
  private readonly failures = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: KeepaliveDeps) {}

  static needsKeepalive(b: Binding): boolean {
    return b.flow.protocol !== 'udp' || b.nat.natted;
  }

  /** One round: pings every binding that needs it, concurrently; resolves when all are settled. */
  async run(): Promise<{ pinged: number; removed: number }> {
    const due = (await this.deps.bindings()).filter(
      (b) => KeepaliveRound.needsKeepalive(b) && !this.inFlight.has(keyOf(b)),
    );
    const live = new Set(due.map(keyOf));
    for (const key of this.failures.keys())
      if (!live.has(key) && !this.inFlight.has(key)) this.failures.delete(key);
    const outcomes = await Promise.all(due.map((b) => this.check(b)));
    return { pinged: due.length, removed: outcomes.filter(Boolean).length };
  }

  private async check(b: Binding): Promise<boolean> {
    const key = keyOf(b);
    this.inFlight.add(key);
    let failure: string | null = null;
    try {
      const status = await this.deps.ping(b);
      if (NO_ANSWER.has(status)) failure = `OPTIONS ${status}`;
    } catch (err) {
      failure = `OPTIONS not sent: ${(err as Error).message}`;
    } finally {
      this.inFlight.delete(key);
    }
    if (failure === null) {
      this.failures.delete(key);
      return false;
    }
    const count = (this.failures.get(key) ?? 0) + 1;
    const limit = b.flow.protocol === 'udp' ? this.deps.maxFailures : 1;
    if (count < limit) {
      this.failures.set(key, count);
      return false;
    }
    this.failures.delete(key);
    await this.deps.remove(b, `${failure} (${count} in a row)`);
    return true;
  }
}
