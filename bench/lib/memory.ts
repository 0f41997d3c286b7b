import * as fs from 'node:fs';

export interface MemoryUse {
  /** Proportional set size: shared pages (Kamailio's shm) split among the processes using them. */
  pssMb: number;
  /** Plain RSS added up; counts shared pages once per process. */
  rssSumMb: number;
  processes: number;
}

function rollupKb(pid: number, field: 'Pss' | 'Rss'): number {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Memory of a group of processes (one Node process, or Kamailio's main process and workers). */
export function memoryOf(pids: number[]): MemoryUse {
  let pss = 0;
  let rss = 0;
  let processes = 0;
  for (const pid of pids) {
    try {
      pss += rollupKb(pid, 'Pss');
      rss += rollupKb(pid, 'Rss');
      processes++;
    } catch {
      // Exited meanwhile.
    }
  }
  return { pssMb: round(pss / 1024), rssSumMb: round(rss / 1024), processes };
}

const round = (value: number) => Math.round(value * 10) / 10;
