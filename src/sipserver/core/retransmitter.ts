import type { Clock, TimerHandle, TimerSettings } from '../transaction/timers';

export interface RetransmitOptions {
  /** Only unreliable transports resend; on streams the timer just bounds the wait. */
  unreliable: boolean;
  /** RFC 3261 §13.3.1.4 caps the 2xx interval at T2; RFC 3262 §3 lets reliable 1xx double freely. */
  capAtT2: boolean;
  resend: () => void;
  /** Called once when 64*T1 has passed without stop(). */
  giveUp: () => void;
}

/**
 * Resends a response the transaction layer does not own (a 2xx to INVITE until its ACK, a
 * reliable provisional until its PRACK): T1, doubling, for at most 64*T1.
 */
export class Retransmitter {
  private timer: TimerHandle | null = null;
  private interval: number;
  private readonly deadline: number;

  constructor(
    private readonly clock: Clock,
    private readonly timers: TimerSettings,
    private readonly options: RetransmitOptions,
  ) {
    this.interval = timers.t1;
    this.deadline = clock.now() + 64 * timers.t1;
    this.schedule(options.unreliable ? this.interval : 64 * timers.t1);
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(
      () => this.tick(),
      Math.max(0, Math.min(ms, this.deadline - this.clock.now())),
    );
  }

  private tick(): void {
    this.timer = null;
    if (this.clock.now() >= this.deadline) {
      this.options.giveUp();
      return;
    }
    this.options.resend();
    this.interval *= 2;
    if (this.options.capAtT2) this.interval = Math.min(this.interval, this.timers.t2);
    this.schedule(this.interval);
  }
}
