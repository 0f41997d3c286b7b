import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep, type ProcessSet, type Tracked } from './processes';

export const SCENARIOS = path.resolve(__dirname, '../../../bench/scenarios');

export interface SippClient {
  scenario: string;
  /** host:port of the edge (or the PBX, for a direct run). */
  target: string;
  localIp: string;
  localPort: number;
  rate: number;
  calls: number;
  /** Most calls open at once; sipp stops placing new ones at this many. */
  limit?: number;
  /** `<pause/>` length in ms (the hold time of call-uac.xml). */
  holdMs?: number;
  keys?: Record<string, string>;
  /** Injection CSV (-inf). */
  injection?: string;
  /** Where sipp writes its statistics and error log. */
  workDir: string;
  label: string;
}

export interface SippResult {
  exitCode: number | null;
  successful: number;
  failed: number;
  elapsedMs: number;
  /** The sipp run was killed because it took far longer than planned. */
  killed: boolean;
}

// A message the edge never answers fails the call after this long, so a step cannot hang.
const RECV_TIMEOUT_MS = 5000;

function clientArgs(run: SippClient, statsFile: string): string[] {
  const args = [
    run.target,
    '-sf',
    path.join(SCENARIOS, run.scenario),
    '-i',
    run.localIp,
    '-p',
    String(run.localPort),
    '-nostdin',
    '-r',
    String(run.rate),
    '-m',
    String(run.calls),
    '-l',
    String(run.limit ?? Math.max(500, run.rate * 2)),
    '-d',
    String(run.holdMs ?? 0),
    '-recv_timeout',
    String(RECV_TIMEOUT_MS),
    '-trace_stat',
    '-stf',
    statsFile,
    '-fd',
    '1',
    '-trace_err',
    '-error_file',
    path.join(run.workDir, `${run.label}-errors.log`),
  ];
  if (run.injection) args.push('-inf', run.injection);
  for (const [key, value] of Object.entries(run.keys ?? {})) args.push('-key', key, value);
  return args;
}

/** Starts a sipp client; its statistics can be read while it runs (see `readSippStats`). */
export function startSippClient(procs: ProcessSet, run: SippClient): { process: Tracked; statsFile: string } {
  const statsFile = path.join(run.workDir, `${run.label}-stats.csv`);
  fs.rmSync(statsFile, { force: true });
  const process = procs.spawn(`sipp ${run.label}`, 'sipp', clientArgs(run, statsFile), {
    cwd: run.workDir,
    logFile: path.join(run.workDir, `${run.label}-sipp.log`),
  });
  return { process, statsFile };
}

/** Runs a sipp client to the end (or kills it after `timeoutMs`) and reads its final counters. */
export async function runSippClient(
  procs: ProcessSet,
  run: SippClient,
  timeoutMs: number,
): Promise<SippResult> {
  const started = Date.now();
  const { process, statsFile } = startSippClient(procs, run);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    void procs.stop(process, 'SIGKILL', 0);
  }, timeoutMs);
  const exitCode = await process.exited;
  clearTimeout(timer);
  const elapsedMs = Date.now() - started;
  const stats = readSippStats(statsFile);
  return {
    exitCode,
    successful: stats?.successful ?? 0,
    failed: stats?.failed ?? 0,
    elapsedMs,
    killed,
  };
}

export interface SippStats {
  successful: number;
  failed: number;
  current: number;
  created: number;
}

/** The last row of a -trace_stat file, or null before sipp wrote one. */
export function readSippStats(file: string): SippStats | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) return null;
  const header = lines[0].split(';');
  const row = lines[lines.length - 1].split(';');
  const column = (name: string) => Number(row[header.indexOf(name)] ?? NaN);
  return {
    successful: column('SuccessfulCall(C)'),
    failed: column('FailedCall(C)'),
    current: column('CurrentCall'),
    created: column('TotalCallCreated'),
  };
}

/** The PBX: a sipp UAS answering every call with call-uas.xml until stopped. */
export async function startPbx(
  procs: ProcessSet,
  ip: string,
  port: number,
  workDir: string,
): Promise<Tracked> {
  const pbx = procs.spawn(
    'sipp pbx',
    'sipp',
    ['-sf', path.join(SCENARIOS, 'call-uas.xml'), '-i', ip, '-p', String(port), '-nostdin'],
    { cwd: workDir, logFile: path.join(workDir, 'pbx-sipp.log') },
  );
  await sleep(300);
  if (!pbx.isRunning()) throw new Error(`sipp PBX did not start (see ${workDir}/pbx-sipp.log)`);
  return pbx;
}

/**
 * An injection file for register*.xml: `count` users named u<N> with password pw<N>, and the
 * ready-made [authentication] keyword for each (register-auth.xml sends it as [field2]).
 */
export function writeUsersCsv(file: string, count: number): void {
  const lines = ['SEQUENTIAL'];
  for (let n = 1; n <= count; n++) lines.push(`u${n};pw${n};[authentication username=u${n} password=pw${n}]`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}
