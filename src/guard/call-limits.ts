/** Caps on calls in progress; 0 means no cap. */
export interface CallLimits {
  perUser: number;
  perSource: number;
}

export type CallSlot = { ok: true; release: () => void } | { ok: false; limit: 'perUser' | 'perSource' };

/**
 * Counts calls in progress per user and per source address, so one stolen account or one
 * compromised network cannot open unbounded calls (toll fraud runs many calls in parallel).
 */
export class ConcurrentCallLimiter {
  private readonly byUser = new Map<string, number>();
  private readonly bySource = new Map<string, number>();

  constructor(private readonly limits: CallLimits) {}

  /** Takes a slot for a new call, or says which cap it would exceed. */
  acquire(user: string, source: string): CallSlot {
    const { perUser, perSource } = this.limits;
    if (perUser > 0 && (this.byUser.get(user) ?? 0) >= perUser) return { ok: false, limit: 'perUser' };
    if (perSource > 0 && (this.bySource.get(source) ?? 0) >= perSource)
      return { ok: false, limit: 'perSource' };
    increment(this.byUser, user);
    increment(this.bySource, source);
    let held = true;
    return {
      ok: true,
      release: () => {
        if (!held) return;
        held = false;
        decrement(this.byUser, user);
        decrement(this.bySource, source);
      },
    };
  }

  /** Calls in progress for a user and for a source. */
  count(user: string, source: string): { user: number; source: number } {
    return { user: this.byUser.get(user) ?? 0, source: this.bySource.get(source) ?? 0 };
  }
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Zero counts are removed, so the maps only hold keys with calls up. */
function decrement(map: Map<string, number>, key: string): void {
  const left = (map.get(key) ?? 0) - 1;
  if (left > 0) map.set(key, left);
  else map.delete(key);
}
