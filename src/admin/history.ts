/** Calls and failures per minute over the last hour, for the dashboard's chart. */
export interface HistoryBucket {
  start: number;
  calls: number;
  failed: number;
}

const BUCKET_MS = 60_000;
const BUCKETS = 60;

export class CallHistory {
  private readonly buckets: HistoryBucket[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** One call that ended (answered or not) or was refused. */
  add(failed: boolean): void {
    const bucket = this.current();
    bucket.calls += 1;
    if (failed) bucket.failed += 1;
  }

  /** The last hour oldest first, one bucket per minute, empty minutes included. */
  snapshot(): { bucketSeconds: number; buckets: HistoryBucket[] } {
    const last = this.bucketStart(this.now());
    const byStart = new Map(this.buckets.map((b) => [b.start, b]));
    const buckets: HistoryBucket[] = [];
    for (let i = BUCKETS - 1; i >= 0; i--) {
      const start = last - i * BUCKET_MS;
      const bucket = byStart.get(start);
      buckets.push({ start, calls: bucket?.calls ?? 0, failed: bucket?.failed ?? 0 });
    }
    return { bucketSeconds: BUCKET_MS / 1000, buckets };
  }

  private current(): HistoryBucket {
    const start = this.bucketStart(this.now());
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) return last;
    const bucket = { start, calls: 0, failed: 0 };
    this.buckets.push(bucket);
    const oldest = start - (BUCKETS - 1) * BUCKET_MS;
    while (this.buckets.length > 0 && this.buckets[0].start < oldest) this.buckets.shift();
    return bucket;
  }

  private bucketStart(time: number): number {
    return time - (time % BUCKET_MS);
  }
}
