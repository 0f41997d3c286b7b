import type { HotFunction } from './lib/cpu-profile';
import type { LatencyResult, MemoryResult } from './measures';
import type { RampResult } from './lib/ramp';

export interface SystemResults {
  callsPerSecond?: RampResult;
  latency?: LatencyResult;
  registerPerSecond?: RampResult;
  registerAuthPerSecond?: RampResult;
  bindingsMemory?: MemoryResult;
  callsMemory?: MemoryResult;
}

export interface BenchReport {
  date: string;
  mode: 'full' | 'quick';
  machine: { cpus: number; memoryGb: number; kernel: string };
  settings: object;
  results: Record<string, SystemResults>;
  table: TableRow[];
  profileTop?: HotFunction[];
}

export interface TableRow {
  metric: string;
  pinhole: number | null;
  kamailio: number | null;
  /** Pinhole / Kamailio. */
  ratio: number | null;
  better: 'higher' | 'lower';
}

type Pick = (r: SystemResults) => number | undefined;

const METRICS: { metric: string; better: 'higher' | 'lower'; pick: Pick }[] = [
  { metric: 'calls/s, 0 failed (max step)', better: 'higher', pick: (r) => r.callsPerSecond?.best },
  { metric: 'REGISTER/s, no auth', better: 'higher', pick: (r) => r.registerPerSecond?.best },
  { metric: 'REGISTER/s, digest (MD5)', better: 'higher', pick: (r) => r.registerAuthPerSecond?.best },
  { metric: 'INVITE in -> out, p50 (ms)', better: 'lower', pick: (r) => r.latency?.invite.p50 },
  { metric: 'INVITE in -> out, p99 (ms)', better: 'lower', pick: (r) => r.latency?.invite.p99 },
  { metric: '200 in -> out, p50 (ms)', better: 'lower', pick: (r) => r.latency?.answer.p50 },
  { metric: '200 in -> out, p99 (ms)', better: 'lower', pick: (r) => r.latency?.answer.p99 },
  { metric: 'memory idle (MB PSS)', better: 'lower', pick: (r) => r.bindingsMemory?.idle.pssMb },
  { metric: 'memory, N bindings (MB PSS)', better: 'lower', pick: (r) => r.bindingsMemory?.loaded.pssMb },
  { metric: 'memory, M calls up (MB PSS)', better: 'lower', pick: (r) => r.callsMemory?.loaded.pssMb },
];

export function buildTable(
  results: Record<string, SystemResults>,
  bindings: number,
  calls: number,
): TableRow[] {
  return METRICS.map(({ metric, better, pick }) => {
    const pinhole = results.Pinhole ? (pick(results.Pinhole) ?? null) : null;
    const kamailio = results.Kamailio ? (pick(results.Kamailio) ?? null) : null;
    const ratio =
      pinhole !== null && kamailio !== null && kamailio > 0
        ? Math.round((pinhole / kamailio) * 100) / 100
        : null;
    const named = metric
      .replace('N bindings', `${bindings / 1000}k bindings`)
      .replace('M calls', `${calls / 1000}k calls`);
    return { metric: named, pinhole, kamailio, ratio, better };
  });
}

/** The table as markdown, ready for bench/README.md. */
export function formatTable(rows: TableRow[]): string {
  const cell = (value: number | null) => (value === null || Number.isNaN(value) ? '-' : String(value));
  const lines = [
    '| measure | Pinhole | Kamailio | Pinhole/Kamailio |',
    '|---|---:|---:|---:|',
    ...rows.map(
      (row) =>
        `| ${row.metric} | ${cell(row.pinhole)} | ${cell(row.kamailio)} | ${cell(row.ratio)} ` +
        `(${row.better} is better) |`,
    ),
  ];
  return lines.join('\n');
}
