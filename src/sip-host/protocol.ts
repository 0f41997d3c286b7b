import type { GuardStats } from '../guard';
import type { GuardConfig } from '../guard/config';
import type { ServerStats, TimerSettings } from '../sipserver';
import type { ListeningPoint } from '../sipserver/transport/types';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** What the worker needs to build the SIP server and its guard: plain data only. */
export interface SipThreadSetup {
  listen: string[];
  control: { host: string; port: number; secret: string };
  advertise?: string;
  timers?: TimerSettings;
  tls?: { cert: Uint8Array; key: Uint8Array };
  maxMessageSize?: number;
  idleTimeoutMs?: number;
  guard: GuardConfig | null;
  logLevel: LogLevel;
  /** How often the worker sends its counters (the admin API and metrics read the latest). */
  statsIntervalMs: number;
}

export type ToSipThread =
  { type: 'stop' } | { type: 'log-level'; level: LogLevel } | { type: 'stats'; id: number };

export type FromSipThread =
  | { type: 'started'; controlPort: number; listeningPoints: ListeningPoint[] }
  | { type: 'failed'; message: string }
  | { type: 'stopped' }
  | { type: 'log'; level: LogLevel; message: string; meta?: object }
  /** `guard` is sent only in answer to a request (`id`): undefined in the periodic ones. */
  | { type: 'stats'; id?: number; stats: ServerStats; guard?: GuardStats | null };
