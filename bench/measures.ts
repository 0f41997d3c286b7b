import * as fs from 'node:fs';
import * as path from 'node:path';
import { percentile, readSipCapture, startCapture, transitTimesMs, type CapturedSip } from './lib/capture';
import { memoryOf, type MemoryUse } from './lib/memory';
import { sleep, waitFor, type ProcessSet } from './lib/processes';
import { ramp, type RampResult, type StepResult } from './lib/ramp';
import { readSippStats, runSippClient, startPbx, startSippClient, type SippClient } from './lib/sipp';
import type { BenchNetwork, EdgeMode, EdgeSystem, RunningEdge } from './systems/edge';

/** The phone's ports: calls come from a port whose user is registered (Pinhole's registered-flow). */
const CALLER_PORT = 15090;
const REGISTER_PORT = 15091;
const CALLER = 'caller';

export interface BenchSettings {
  stepSeconds: number;
  rampFactor: number;
  refine: boolean;
  callsStart: number;
  registerStart: number;
  latencyCalls: number;
  bindings: number;
  concurrentCalls: number;
  authUsers: number;
  /** Profile Pinhole's calls/s phase into this folder. */
  profileDir?: string;
}

export interface BenchContext {
  procs: ProcessSet;
  network: BenchNetwork;
  workDir: string;
  settings: BenchSettings;
  /** Injection files: u1..u<bindings> and u1..u<authUsers>. */
  usersCsv: string;
  authUsersCsv: string;
  log(line: string): void;
}

export interface LatencyResult {
  calls: number;
  invite: { p50: number; p99: number };
  answer: { p50: number; p99: number };
}

export interface MemoryResult {
  idle: MemoryUse;
  loaded: MemoryUse;
  /** Bindings registered, or calls up, when memory was read. */
  reached: number;
  failed: number;
  rate: number;
}

async function withEdge<T>(
  ctx: BenchContext,
  system: EdgeSystem,
  mode: EdgeMode,
  work: (edge: RunningEdge) => Promise<T>,
  profile = false,
): Promise<T> {
  const edge = await system.start(ctx.procs, ctx.network, {
    mode,
    authUsers: ctx.settings.authUsers,
    workDir: ctx.workDir,
    profileDir: profile ? ctx.settings.profileDir : undefined,
  });
  try {
    return await work(edge);
  } finally {
    await edge.stop();
  }
}

function client(
  ctx: BenchContext,
  system: EdgeSystem,
  fields: Partial<SippClient> & { label: string },
): SippClient {
  return {
    scenario: 'call-uac.xml',
    target: `127.0.0.1:${system.sipPort}`,
    localIp: ctx.network.phoneIp,
    localPort: CALLER_PORT,
    rate: 10,
    calls: 1,
    keys: { caller: CALLER, expires: '3600' },
    workDir: ctx.workDir,
    ...fields,
  };
}

/** Registers the calling phone from CALLER_PORT, so its INVITEs arrive on a registered flow. */
async function registerCaller(ctx: BenchContext, system: EdgeSystem): Promise<void> {
  const csv = path.join(ctx.workDir, 'caller.csv');
  fs.writeFileSync(csv, `SEQUENTIAL\n${CALLER};unused\n`);
  const result = await runSippClient(
    ctx.procs,
    client(ctx, system, { label: 'register-caller', scenario: 'register.xml', injection: csv }),
    15_000,
  );
  if (result.successful !== 1) throw new Error(`${system.name}: the caller could not register`);
}

async function rampStep(
  ctx: BenchContext,
  system: EdgeSystem,
  run: Omit<Partial<SippClient>, 'rate' | 'calls'> & { label: string },
  rate: number,
): Promise<StepResult> {
  const seconds = ctx.settings.stepSeconds;
  const planned = Math.round(rate * seconds);
  const result = await runSippClient(
    ctx.procs,
    client(ctx, system, { ...run, label: `${run.label}-${rate}`, rate, calls: planned }),
    seconds * 3000 + 20_000,
  );
  const elapsed = result.elapsedMs / 1000;
  const passed =
    !result.killed &&
    result.exitCode === 0 &&
    result.failed === 0 &&
    result.successful === planned &&
    elapsed <= seconds * 1.1 + 1;
  const step = {
    rate,
    planned,
    successful: result.successful,
    failed: result.failed,
    seconds: elapsed,
    passed,
  };
  ctx.log(
    `  ${system.name} ${run.label} ${rate}/s: ${result.successful}/${planned} ok, ${result.failed} failed, ` +
      `${elapsed.toFixed(1)} s${passed ? '' : '  <- limit'}`,
  );
  // Let the edge finish transactions (and, after a failed step, drain) before the next step.
  await sleep(passed ? 1000 : 6000);
  return step;
}

const isInvite = (m: CapturedSip) => m.firstLine.startsWith('INVITE ');
const isInviteOk = (m: CapturedSip) => m.firstLine.startsWith('SIP/2.0 200') && m.cseq.endsWith('INVITE');

/** INVITE in -> INVITE out and 200 in -> 200 out inside the edge, from a loopback capture. */
async function measureLatency(ctx: BenchContext, system: EdgeSystem): Promise<LatencyResult> {
  const pcap = path.join(ctx.workDir, `${system.name}-latency.pcap`);
  const pbxPort = ctx.network.pbx.port;
  const tcpdump = await startCapture(
    ctx.procs,
    pcap,
    [system.sipPort, pbxPort],
    path.join(ctx.workDir, 'tcpdump.log'),
  );
  const calls = ctx.settings.latencyCalls;
  try {
    await runSippClient(
      ctx.procs,
      client(ctx, system, { label: 'latency', rate: 20, calls }),
      calls * 100 + 20_000,
    );
    await sleep(500);
  } finally {
    await ctx.procs.stop(tcpdump, 'SIGINT');
  }
  const messages = readSipCapture(pcap);
  const invite = transitTimesMs(
    messages,
    (m) => isInvite(m) && m.dstPort === system.sipPort,
    (m) => isInvite(m) && m.dstPort === pbxPort,
  );
  const answer = transitTimesMs(
    messages,
    (m) => isInviteOk(m) && m.srcPort === pbxPort,
    (m) => isInviteOk(m) && m.dstPort === CALLER_PORT,
  );
  fs.rmSync(pcap, { force: true });
  const summary = (values: number[]) => ({
    p50: round3(percentile(values, 50)),
    p99: round3(percentile(values, 99)),
  });
  ctx.log(`  ${system.name} latency: ${invite.length} INVITEs, ${answer.length} answers paired`);
  return { calls: invite.length, invite: summary(invite), answer: summary(answer) };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

/** Latency at a low rate, then calls/s ramped with zero hold time: one edge start. */
export async function measureCalls(
  ctx: BenchContext,
  system: EdgeSystem,
  profile: boolean,
): Promise<{ latency: LatencyResult; calls: RampResult }> {
  return withEdge(
    ctx,
    system,
    'open',
    async () => {
      const pbx = await startPbx(ctx.procs, ctx.network.pbx.ip, ctx.network.pbx.port, ctx.workDir);
      try {
        await registerCaller(ctx, system);
        const latency = await measureLatency(ctx, system);
        const calls = await ramp(
          {
            start: ctx.settings.callsStart,
            factor: ctx.settings.rampFactor,
            max: 20_000,
            refine: ctx.settings.refine,
          },
          (rate) => rampStep(ctx, system, { label: 'calls' }, rate),
        );
        return { latency, calls };
      } finally {
        await ctx.procs.stop(pbx);
      }
    },
    profile,
  );
}

/** REGISTER/s ramped, each registration a different user, with or without digest. */
export async function measureRegistrations(
  ctx: BenchContext,
  system: EdgeSystem,
  mode: EdgeMode,
): Promise<RampResult> {
  return withEdge(ctx, system, mode, () =>
    ramp(
      {
        start: ctx.settings.registerStart,
        factor: ctx.settings.rampFactor,
        max: 60_000,
        refine: ctx.settings.refine,
      },
      (rate) =>
        rampStep(
          ctx,
          system,
          {
            label: mode === 'auth' ? 'register-auth' : 'register',
            scenario: mode === 'auth' ? 'register-auth.xml' : 'register.xml',
            injection: mode === 'auth' ? ctx.authUsersCsv : ctx.usersCsv,
            localPort: REGISTER_PORT,
          },
          rate,
        ),
    ),
  );
}

/**
 * Memory is read once the storm that built the state has passed: RFC 3261 keeps a completed
 * transaction for 64*T1 (32 s; Timer J, and RFC 6026's Timer L for an accepted INVITE), which is
 * what the registrations or calls cost while they arrive, not what they cost while they last.
 */
const AT_REST_MS = 35_000;

/** Memory with `settings.bindings` distinct users registered (no digest). */
export async function measureBindingsMemory(
  ctx: BenchContext,
  system: EdgeSystem,
  rate: number,
): Promise<MemoryResult> {
  return withEdge(ctx, system, 'open', async (edge) => {
    await sleep(1000);
    const idle = memoryOf(edge.edgePids());
    const count = ctx.settings.bindings;
    const result = await runSippClient(
      ctx.procs,
      client(ctx, system, {
        label: 'bindings',
        scenario: 'register.xml',
        injection: ctx.usersCsv,
        localPort: REGISTER_PORT,
        rate,
        calls: count,
      }),
      (count / rate) * 3000 + 60_000,
    );
    await sleep(AT_REST_MS);
    const loaded = memoryOf(edge.edgePids());
    ctx.log(`  ${system.name} bindings: ${result.successful} registered at ${rate}/s, ${loaded.pssMb} MB`);
    return { idle, loaded, reached: result.successful, failed: result.failed, rate };
  });
}

/** Memory with `settings.concurrentCalls` calls up at once (long hold time). */
export async function measureCallsMemory(
  ctx: BenchContext,
  system: EdgeSystem,
  rate: number,
): Promise<MemoryResult> {
  return withEdge(ctx, system, 'open', async (edge) => {
    const pbx = await startPbx(ctx.procs, ctx.network.pbx.ip, ctx.network.pbx.port, ctx.workDir);
    try {
      await registerCaller(ctx, system);
      await sleep(1000);
      const idle = memoryOf(edge.edgePids());
      const count = ctx.settings.concurrentCalls;
      const rampMs = (count / rate) * 1000;
      const { process: uac, statsFile } = startSippClient(
        ctx.procs,
        client(ctx, system, {
          label: 'concurrent',
          rate,
          calls: count,
          limit: count + 100,
          holdMs: rampMs + 60_000,
        }),
      );
      try {
        await waitFor(
          () => {
            const stats = readSippStats(statsFile);
            return (
              !uac.isRunning() ||
              (stats !== null && stats.created >= count && stats.current + stats.failed >= count)
            );
          },
          rampMs * 2 + 30_000,
          `${count} concurrent calls`,
        ).catch((err: Error) => ctx.log(`  ${system.name}: ${err.message}`));
        await sleep(AT_REST_MS);
        const loaded = memoryOf(edge.edgePids());
        const stats = readSippStats(statsFile);
        ctx.log(`  ${system.name} calls up: ${stats?.current ?? 0} at ${rate}/s, ${loaded.pssMb} MB`);
        return { idle, loaded, reached: stats?.current ?? 0, failed: stats?.failed ?? 0, rate };
      } finally {
        await ctx.procs.stop(uac, 'SIGKILL', 0);
      }
    } finally {
      await ctx.procs.stop(pbx, 'SIGKILL', 0);
    }
  });
}
