import type { EventLoopUtilization } from 'node:perf_hooks';
import type { GuardStats } from '../guard';
import type { ServerStats } from '../sipserver';
import type { ListeningPoint } from '../sipserver/transport/types';

/** The embedded SIP server as the rest of Pinhole sees it, whichever thread it runs in. */
export interface RunningSipServer {
  readonly listeningPoints: ListeningPoint[];
  /** Where drachtio-srf connects. */
  readonly controlAddress: { host: string; port: number };
  /** Counters; from a worker thread they are at most a fraction of a second old. */
  stats(): ServerStats;
  /** Counters as of now. */
  refreshStats(): Promise<ServerStats>;
  /** The guard's bans, locked users and tracked sources; null without a guard. */
  guardStats(): GuardStats | null;
  /**
   * How busy the SIP server's own thread is (cumulative, or since `previous`); null when it
   * shares the app's thread.
   */
  eventLoopUtilization(previous?: EventLoopUtilization): EventLoopUtilization | null;
  stop(): Promise<void>;
}
