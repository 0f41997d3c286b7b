/**
 * `make bench`: Pinhole and the Kamailio + rtpengine reference, measured one after the other on
 * loopback with the same sipp scenarios (bench/scenarios) and the same rtpengine settings. Prints
 * one table and writes bench/results/latest.json. Not part of `make test`.
 *
 *   node dist/bench/main.js [--quick] [--profile] [--only pinhole|kamailio] [--keep]
 *
 * --quick: a ~3 minute smoke run (short steps, 10k bindings, 2k calls).
 * --profile: run Pinhole under `node --cpu-prof` during the calls/s phase and print the top
 *   self-time functions. --keep: leave the work folder (logs, sipp statistics) in place.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rtpengineOpenFiles } from '../src/nat/rtpengine-process';
import { isUdpPortFree } from '../test/support/ports';
import { newestProfile, topSelfTime, type HotFunction } from './lib/cpu-profile';
import { ProcessSet } from './lib/processes';
import { writeUsersCsv } from './lib/sipp';
import {
  measureBindingsMemory,
  measureCalls,
  measureCallsMemory,
  measureRegistrations,
  type BenchContext,
  type BenchSettings,
} from './measures';
import { buildTable, formatTable, type BenchReport, type SystemResults } from './report';
import type { BenchNetwork, EdgeSystem } from './systems/edge';
import { KamailioEdge } from './systems/kamailio';
import { PinholeEdge } from './systems/pinhole';

const RESULTS = path.resolve(__dirname, '../../bench/results');
const PROFILE_COPY = path.join(os.tmpdir(), 'pinhole-bench-calls.cpuprofile');
const NETWORK: BenchNetwork = { pbx: { ip: '127.0.0.2', port: 15080 }, phoneIp: '127.0.0.1' };

const FULL: BenchSettings = {
  stepSeconds: 4,
  rampFactor: 1.25,
  refine: true,
  callsStart: 100,
  registerStart: 1000,
  latencyCalls: 400,
  bindings: 100_000,
  concurrentCalls: 10_000,
  authUsers: 20_000,
};

const QUICK: BenchSettings = {
  stepSeconds: 2,
  rampFactor: 1.6,
  refine: false,
  callsStart: 100,
  registerStart: 500,
  latencyCalls: 100,
  bindings: 10_000,
  concurrentCalls: 2_000,
  authUsers: 5_000,
};

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

const flag = (name: string) => process.argv.includes(`--${name}`);

function systemsToRun(): EdgeSystem[] {
  const only = option('only');
  const all: EdgeSystem[] = [new PinholeEdge(), new KamailioEdge()];
  if (!only) return all;
  const chosen = all.filter((s) => s.name.toLowerCase() === only.toLowerCase());
  if (chosen.length === 0) throw new Error(`--only: expected pinhole or kamailio, got ${only}`);
  return chosen;
}

async function checkPortsFree(systems: EdgeSystem[]): Promise<void> {
  const ports = [...systems.map((s) => s.sipPort), NETWORK.pbx.port, 15090, 15091];
  for (const port of ports)
    if (!(await isUdpPortFree(port, port === NETWORK.pbx.port ? NETWORK.pbx.ip : '127.0.0.1')))
      throw new Error(`UDP port ${port} is in use: is another bench (or a Pinhole) running?`);
}

/** rtpengine's own sockets, log and ng control beside the four per call. */
const RTPENGINE_SPARE_FILES = 200;

const clamp = (value: number, min: number, max: number) => Math.max(min, Math.min(max, Math.round(value)));

async function main(): Promise<void> {
  const quick = flag('quick');
  const settings: BenchSettings = { ...(quick ? QUICK : FULL) };
  const openFiles = rtpengineOpenFiles();
  const fittingCalls = openFiles === null ? Infinity : Math.floor((openFiles - RTPENGINE_SPARE_FILES) / 4);
  if (fittingCalls < settings.concurrentCalls) {
    process.stdout.write(
      `rtpengine may open ${openFiles} files here (about 4 per call): measuring ` +
        `${fittingCalls} calls up instead of ${settings.concurrentCalls}\n`,
    );
    settings.concurrentCalls = fittingCalls;
  }
  const systems = systemsToRun();
  await checkPortsFree(systems);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-bench-'));
  if (flag('profile')) {
    settings.profileDir = path.join(workDir, 'profile');
    fs.mkdirSync(settings.profileDir);
  }
  const procs = new ProcessSet();
  const stopOnSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping every process the bench started\n`);
    void procs.stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const usersCsv = path.join(workDir, 'users.csv');
  const authUsersCsv = path.join(workDir, 'auth-users.csv');
  writeUsersCsv(usersCsv, settings.bindings);
  writeUsersCsv(authUsersCsv, settings.authUsers);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const ctx: BenchContext = { procs, network: NETWORK, workDir, settings, usersCsv, authUsersCsv, log };
  const results: Record<string, SystemResults> = Object.fromEntries(systems.map((s) => [s.name, {}]));
  const started = Date.now();
  let profileTop: HotFunction[] | undefined;
  try {
    // Each measure runs for every system before the next measure, so drift on a shared machine
    // hits both sides of a ratio alike.
    log(`work folder: ${workDir}`);
    log('== calls/s and call-setup latency');
    for (const system of systems) {
      const { latency, calls } = await measureCalls(
        ctx,
        system,
        system.name === 'Pinhole' && flag('profile'),
      );
      Object.assign(results[system.name], { latency, callsPerSecond: calls });
    }
    if (settings.profileDir) {
      const profile = newestProfile(settings.profileDir);
      if (profile) {
        profileTop = topSelfTime(profile, 20);
        // Outside the work folder (removed at the end) and outside the repository (it is large).
        fs.copyFileSync(profile, PROFILE_COPY);
      }
      log(`CPU profile: ${profile ? PROFILE_COPY : 'none written'}`);
    }
    log('== REGISTER/s without auth');
    for (const system of systems)
      results[system.name].registerPerSecond = await measureRegistrations(ctx, system, 'open');
    log('== REGISTER/s with digest');
    for (const system of systems)
      results[system.name].registerAuthPerSecond = await measureRegistrations(ctx, system, 'auth');
    log(`== memory with ${settings.bindings} bindings`);
    for (const system of systems) {
      const rate = clamp((results[system.name].registerPerSecond?.best ?? 500) * 0.7, 200, 5000);
      results[system.name].bindingsMemory = await measureBindingsMemory(ctx, system, rate);
    }
    log(`== memory with ${settings.concurrentCalls} calls up`);
    for (const system of systems) {
      const rate = clamp((results[system.name].callsPerSecond?.best ?? 100) * 0.6, 50, 500);
      results[system.name].callsMemory = await measureCallsMemory(ctx, system, rate);
    }
  } finally {
    await procs.stopAll();
  }

  const table = buildTable(results, settings.bindings, settings.concurrentCalls);
  const report: BenchReport = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() },
    settings,
    results,
    table,
    profileTop,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 1)}\n`);
  log(`\n${formatTable(table)}\n`);
  if (profileTop) {
    log('Pinhole CPU profile, calls/s phase: top self time (% of non-idle)');
    for (const hot of profileTop) log(`  ${hot.selfPercent.toFixed(1).padStart(5)}%  ${hot.location}`);
  }
  log(`\nresults: ${path.join(RESULTS, 'latest.json')} (${((Date.now() - started) / 60000).toFixed(1)} min)`);
  if (flag('keep')) log(`work folder kept: ${workDir}`);
  else fs.rmSync(workDir, { recursive: true, force: true });
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
