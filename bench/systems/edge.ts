import type { ProcessSet } from '../lib/processes';

/** `open`: REGISTER without digest; `auth`: REGISTER challenged (401) and checked. */
export type EdgeMode = 'open' | 'auth';

/** Fixed loopback addresses of one bench run; both edges are measured against the same PBX. */
export interface BenchNetwork {
  /** The sipp PBX (UAS), on its own loopback address so the edge can tell it from phones. */
  pbx: { ip: string; port: number };
  /** The phones' side (sipp UAC). */
  phoneIp: string;
}

export interface EdgeStartOptions {
  mode: EdgeMode;
  /** Users file entries u1..uN with password pw1..pwN (auth mode). */
  authUsers: number;
  workDir: string;
  /** Write a V8 CPU profile into this folder (Pinhole only). */
  profileDir?: string;
}

export interface RunningEdge {
  /** The edge's own processes (not its rtpengine), for memory. */
  edgePids(): number[];
  stop(): Promise<void>;
}

/** A SIP edge under test: Pinhole or the Kamailio reference. */
export interface EdgeSystem {
  readonly name: string;
  readonly sipPort: number;
  start(procs: ProcessSet, network: BenchNetwork, options: EdgeStartOptions): Promise<RunningEdge>;
}

/** The rtpengine settings both edges use (Pinhole passes them through pinhole-bench.yaml). */
export const RTPENGINE = {
  interfaces: [
    { name: 'external', address: '127.0.0.1' },
    { name: 'internal', address: '127.0.0.2' },
  ],
  ports: { min: 16000, max: 59999 },
};
