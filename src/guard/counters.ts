/** A token bucket: holds up to `burst` tokens, refilled at `perSecond`; a request takes one. */
export class TokenBucket {
  private tokens: number;
  private stamp: number;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.stamp = now;
  }

  take(now: number, perSecond: number, burst: number): boolean {
    const refill = ((now - this.stamp) * perSecond) / 1000;
    this.tokens = Math.min(burst, this.tokens + Math.max(0, refill));
    this.stamp = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Counts events in fixed windows: cheap, and precise enough for "N within a minute". */
export class WindowCounter {
  private start = Number.NEGATIVE_INFINITY;
  private count = 0;

  /** Counts one event and returns how many the current window holds. */
  add(now: number, windowMs: number): number {
    if (now - this.start >= windowMs) {
      this.start = now;
      this.count = 0;
    }
    return ++this.count;
  }

  /** True once the window has passed without a new event. */
  lapsed(now: number, windowMs: number): boolean {
    return now - this.start >= windowMs;
  }
}
