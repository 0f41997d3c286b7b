import { EventEmitter } from 'node:events';
import type { EventLoopUtilization } from 'node:perf_hooks';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { GuardStats } from '../guard';
import type { Logger } from '../logging';
import type { ServerStats } from '../sipserver';
import type { ListeningPoint } from '../sipserver/transport/types';
import type { FromSipThread, LogLevel, SipThreadSetup, ToSipThread } from './protocol';
import type { RunningSipServer } from './running-server';

const WORKER_SCRIPT = path.join(__dirname, 'worker-main.js');
/** The app may change its log level at run time (admin API, SIGHUP); the thread follows within this. */
const LEVEL_CHECK_MS = 1000;
const STOP_PATIENCE_MS = 5000;

/**
 * The embedded SIP server running in its own worker thread (worker-main.ts). Seen from the app's
 * thread it offers what the in-thread server does: a control address for drachtio-srf, the
 * listening points, and counters, which arrive every `statsIntervalMs` (or on `refreshStats`).
 * Events: 'exit' (Error) when the thread ends without being asked to.
 */
export class SipServerThread extends EventEmitter implements RunningSipServer {
  private worker: Worker | null = null;
  private controlPort = 0;
  private points: ListeningPoint[] = [];
  private latestStats: ServerStats | null = null;
  private latestGuard: GuardStats | null = null;
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;
  private levelTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly setup: SipThreadSetup,
    private readonly logger: Logger,
  ) {
    super();
  }

  start(): Promise<void> {
    const worker = new Worker(WORKER_SCRIPT, { workerData: this.setup });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (message: FromSipThread) => {
        if (message.type === 'started') {
          started = true;
          this.controlPort = message.controlPort;
          this.points = message.listeningPoints;
          this.followLogLevel();
          resolve();
        } else if (message.type === 'failed') {
          void worker.terminate();
          reject(new Error(message.message));
        } else this.onMessage(message);
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.logger.error('SIP server thread failed', { error: err.stack ?? err.message });
      });
      worker.on('exit', (code) => {
        this.worker = null;
        this.stopLevelTimer();
        this.releaseWaiters();
        if (!started) reject(new Error(`SIP server thread exited at startup (code ${code})`));
        else if (!this.stopping) this.emit('exit', new Error(`SIP server thread exited (code ${code})`));
      });
    });
  }

  /** Stops the server (sockets closed, timers cleared) and ends the thread. */
  stop(): Promise<void> {
    return (this.stopping ??= this.stopWorker());
  }

  get listeningPoints(): ListeningPoint[] {
    return [...this.points];
  }

  get controlAddress(): { host: string; port: number } {
    return { host: this.setup.control.host, port: this.controlPort };
  }

  /** The counters last sent by the thread (at most `statsIntervalMs` old). */
  stats(): ServerStats {
    if (!this.latestStats) throw new Error('SIP server thread not started');
    return this.latestStats;
  }

  /** The guard's bans and tracked sources as of the last refreshStats(). */
  guardStats(): GuardStats | null {
    return this.latestGuard;
  }

  eventLoopUtilization(previous?: EventLoopUtilization): EventLoopUtilization | null {
    if (!this.worker) return null;
    return previous
      ? this.worker.performance.eventLoopUtilization(previous)
      : this.worker.performance.eventLoopUtilization();
  }

  /** Asks the thread for its counters now; resolves once they arrived. */
  refreshStats(): Promise<ServerStats> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(this.stats());
    const id = this.nextId++;
    return new Promise<ServerStats>((resolve) => {
      this.waiting.set(id, () => resolve(this.stats()));
      this.send({ type: 'stats', id });
    });
  }

  private onMessage(message: FromSipThread): void {
    if (message.type === 'log') this.logger.log(message.level, message.message, message.meta);
    else if (message.type === 'stats') {
      this.latestStats = message.stats;
      if (message.guard !== undefined) this.latestGuard = message.guard;
      if (message.id !== undefined) {
        this.waiting.get(message.id)?.();
        this.waiting.delete(message.id);
      }
    }
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.stopLevelTimer();
    if (!worker) return;
    const stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_PATIENCE_MS);
      worker.on('message', (message: FromSipThread) => {
        if (message.type !== 'stopped') return;
        clearTimeout(timer);
        resolve();
      });
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.send({ type: 'stop' });
    await stopped;
    await worker.terminate();
    this.releaseWaiters();
  }

  /** Callers of refreshStats get the last counters when the thread can no longer answer. */
  private releaseWaiters(): void {
    for (const resolve of this.waiting.values()) resolve();
    this.waiting.clear();
  }

  private followLogLevel(): void {
    let level = this.logger.level;
    this.levelTimer = setInterval(() => {
      if (this.logger.level === level) return;
      level = this.logger.level;
      this.send({ type: 'log-level', level: level as LogLevel });
    }, LEVEL_CHECK_MS);
    this.levelTimer.unref();
  }

  private stopLevelTimer(): void {
    if (this.levelTimer) clearInterval(this.levelTimer);
    this.levelTimer = null;
  }

  private send(message: ToSipThread): void {
    this.worker?.postMessage(message);
  }
}
