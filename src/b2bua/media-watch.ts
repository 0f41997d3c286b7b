import type { Logger } from '../logging';
import type { Call } from './call';

export interface MediaWatchOptions {
  /** Both directions silent this long ends the call; 0 turns the watch off. */
  timeoutMs: number;
  calls(): Iterable<Call>;
  logger: Logger;
  now?: () => number;
}

interface Seen {
  packets: number;
  changedAt: number;
}

/**
 * Ends anchored calls whose media stopped both ways: a phone that lost power or network never
 * sends BYE, and without this the call (and its rtpengine ports) stays up until the PBX notices.
 * Music on hold or one-way audio keeps a call alive; only total silence ends it.
 */
export class MediaWatch {
  private readonly seen = new WeakMap<Call, Seen>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly now: () => number;

  constructor(private readonly options: MediaWatchOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.options.timeoutMs <= 0 || this.timer) return;
    // Often enough that a dead call lasts at most a quarter longer than the timeout.
    const interval = Math.min(30_000, Math.max(500, this.options.timeoutMs / 4));
    this.timer = setInterval(() => void this.sweep(), interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round over the established calls (the timer runs this). */
  async sweep(): Promise<string[]> {
    if (this.running) return [];
    this.running = true;
    const ended: string[] = [];
    try {
      for (const call of this.options.calls()) {
        if (call.state !== 'established') continue;
        const stats = await call.mediaStats().catch(() => null);
        if (!stats) continue;
        const packets = [...(stats.caller ?? []), ...(stats.callee ?? [])].reduce((n, s) => n + s.packets, 0);
        const now = this.now();
        const previous = this.seen.get(call);
        if (!previous || previous.packets !== packets) {
          this.seen.set(call, { packets, changedAt: now });
          continue;
        }
        if (now - previous.changedAt < this.options.timeoutMs) continue;
        this.options.logger.info('no media either way: ending the call', {
          callId: call.callId,
          silentSeconds: Math.round((now - previous.changedAt) / 1000),
        });
        ended.push(call.callId);
        void call.hangup('media-timeout');
      }
    } finally {
      this.running = false;
    }
    return ended;
  }
}
