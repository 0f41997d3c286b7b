/** Fires once when `touch` has not been called for `timeoutMs`. Cheap to touch on every packet. */
export class IdleTimer {
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(timeoutMs: number, onIdle: () => void) {
    this.timer = setTimeout(onIdle, timeoutMs);
    // The sockets keep the process alive; the timer alone should not.
    this.timer.unref();
  }

  touch(): void {
    // refresh() would re-arm a cleared timer.
    if (!this.stopped) this.timer.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
