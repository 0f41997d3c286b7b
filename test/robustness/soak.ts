/**
 * `make soak`: Pinhole under steady calls and registrations for SOAK_MINUTES (default 10), with
 * the mutation fuzzer running alongside at a longer count and the RFC 4475/5118 corpus sent once
 * a minute (UDP and TCP in turn). Prints RSS at start and end (this process and rtpengine), the
 * call success rate, the corpus rounds, and REGISTER / OPTIONS latency p50/p99 in the first and
 * the last minute, so drift shows. Exits non-zero when fewer than 99 % of calls succeed, a corpus
 * message is handled otherwise than its manifest asks, or Pinhole stops serving.
 *
 * Knobs (environment): SOAK_MINUTES, SOAK_CALLS_PER_S (default 10), SOAK_REGISTERS_PER_S
 * (default 50), SOAK_FUZZ_COUNT (default 20000 per minute), FUZZ_SEED.
 */
import * as v8 from 'node:v8';
import * as fs from 'node:fs';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { phoneCalls, settledHeapMb } from './support/calls';
import { sendCorpus } from './support/corpus-run';
import { fuzzSeed, runFuzz } from './support/fuzz';
import { startRobustPinhole, USERS } from './support/robust-pinhole';
import { optionsStatus, register, type Target } from './support/sip-probe';
import { DEFAULT_TIMERS } from '../../src/sipserver/transaction/timers';

/** Longer than the ACK timeout and Timer J (64*T1 = 32 s): every dialog and transaction left is a leak. */
const SETTLE_MS = 40_000;
const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const callsPerSecond = Number(process.env.SOAK_CALLS_PER_S ?? 10);
const registersPerSecond = Number(process.env.SOAK_REGISTERS_PER_S ?? 50);
const fuzzCount = Number(process.env.SOAK_FUZZ_COUNT ?? Math.round(20000 * minutes));
const SOAK_USERS = 500;
const WINDOW_MS = 60000;
const CORPUS_INTERVAL_MS = 60000;

interface Sample {
  at: number;
  ms: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function describeWindow(samples: Sample[], from: number, to: number): string {
  const ms = samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms);
  return `p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms (n=${ms.length})`;
}

function rssMb(pid?: number): string {
  if (pid === undefined) return 'n/a';
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return `${(kb / 1024).toFixed(1)} MB`;
}

function soakUsers(): Record<string, string> {
  const users: Record<string, string> = { ...USERS };
  for (let i = 0; i < SOAK_USERS; i++) users[`5${String(i).padStart(3, '0')}`] = `soak-${i}`;
  return users;
}

/** REGISTERs (each through its digest challenge) at `perSecond` until `until`, timed. */
async function registrationLoad(target: Target, perSecond: number, until: number, samples: Sample[]) {
  const passwords = soakUsers();
  let n = 0;
  let ok = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1000 / perSecond;
  let nextAt = Date.now();
  while (Date.now() < until) {
    const user = `5${String(n % SOAK_USERS).padStart(3, '0')}`;
    const contact = `<sip:${user}@192.168.1.70:${5062 + (n % 5)}>`;
    n++;
    const started = performance.now();
    const attempt = register(target, { user, password: passwords[user], contact, expires: 300 })
      .then((outcome) => {
        if (outcome.status === 200) {
          ok++;
          samples.push({ at: Date.now(), ms: performance.now() - started });
        } else failed++;
      })
      .catch(() => void failed++)
      .finally(() => inFlight.delete(attempt));
    inFlight.add(attempt);
    nextAt += intervalMs;
    const wait = nextAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inFlight);
  return { ok, failed };
}

/**
 * The whole RFC 4475/5118 corpus once a minute, over UDP and TCP in turn. A minute apart, the
 * previous round's transactions (kept 32 s) are gone, so the same branches count as new requests.
 */
async function corpusRounds(target: Target, until: number): Promise<{ rounds: number; wrong: string[] }> {
  const wrong: string[] = [];
  let rounds = 0;
  while (Date.now() + CORPUS_INTERVAL_MS / 2 < until) {
    const protocol = rounds % 2 === 0 ? 'udp' : 'tcp';
    const result = await sendCorpus(protocol, target.host, target.port);
    wrong.push(...result.wrong.map((w) => `${protocol} round ${rounds + 1}: ${w}`));
    rounds += 1;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(CORPUS_INTERVAL_MS, Math.max(0, until - Date.now()))),
    );
  }
  return { rounds, wrong };
}

async function optionsProbe(target: Target, until: number, samples: Sample[]): Promise<number> {
  let failures = 0;
  while (Date.now() < until) {
    const started = performance.now();
    if ((await optionsStatus(target, 3000)) === 200)
      samples.push({ at: Date.now(), ms: performance.now() - started });
    else failures++;
    await new Promise((r) => setTimeout(r, 200));
  }
  return failures;
}

async function main(): Promise<number> {
  const pbxPort = await allocatePort();
  const pinhole = await startRobustPinhole({ pbxPort, timers: DEFAULT_TIMERS, users: soakUsers() });
  const durationMs = minutes * 60000;
  // SIPp's own -timeout would end the PBX after the default 30 s, half-way through the soak.
  const pbx = await startPbxWithoutRtp(pbxPort, { timeoutMs: durationMs + 120000 });
  const target: Target = { protocol: 'udp', host: PHONE_IP, port: pinhole.sipPort };
  const seed = fuzzSeed();
  const startedAt = Date.now();
  const until = startedAt + durationMs;
  const rtpenginePid = pinhole.running.rtpengine?.pid;
  console.log(
    `soak: ${minutes} min, ${callsPerSecond} calls/s, ${registersPerSecond} REGISTER/s, ` +
      `fuzz ${fuzzCount} messages (FUZZ_SEED=${seed})`,
  );
  console.log(
    `RSS at start: pinhole ${rssMb(process.pid)}, rtpengine ${rssMb(rtpenginePid)}; heap after GC ${settledHeapMb().toFixed(1)} MB`,
  );
  const registerSamples: Sample[] = [];
  const optionsSamples: Sample[] = [];
  try {
    const calls = phoneCalls(pinhole.sipPort, {
      calls: Math.round(callsPerSecond * minutes * 60),
      rate: callsPerSecond,
      timeoutMs: durationMs + 120000,
      extraArgs: ['-au', '1001', '-ap', 'secret1001', '-l', String(callsPerSecond * 10)],
    });
    const [registrations, optionsFailures, fuzz, callResult, corpus] = await Promise.all([
      registrationLoad(target, registersPerSecond, until, registerSamples),
      optionsProbe(target, until, optionsSamples),
      runFuzz({
        host: PHONE_IP,
        port: pinhole.sipPort,
        seed,
        count: fuzzCount,
        maxMs: durationMs,
        tcpConcurrency: 4,
        perSecond: fuzzCount / (durationMs / 1000),
      }),
      calls,
      corpusRounds(target, until),
    ]);
    const endedAt = Date.now();
    const attempted = callResult.successfulCalls + callResult.failedCalls;
    const successRate = attempted === 0 ? 0 : (100 * callResult.successfulCalls) / attempted;
    const windowEnd = Math.min(endedAt, until);
    console.log(
      `RSS at end:   pinhole ${rssMb(process.pid)}, rtpengine ${rssMb(pinhole.running.rtpengine?.pid)}`,
    );
    console.log(`calls: ${callResult.successfulCalls}/${attempted} succeeded (${successRate.toFixed(2)} %)`);
    console.log(
      `corpus: ${corpus.rounds} rounds (UDP and TCP in turn), ${corpus.wrong.length} messages handled otherwise than the manifests ask`,
    );
    for (const line of corpus.wrong.slice(0, 20)) console.log(`  ${line}`);
    if (callResult.failedCalls > 0) console.log(`first call failures:\n${callResult.errors.slice(0, 1500)}`);
    console.log(
      `call records by end: ${JSON.stringify(countBy(pinhole.records.map((r) => `${r.finalStatus} ${r.endReason}`)))}`,
    );
    console.log(`REGISTER: ${registrations.ok} ok, ${registrations.failed} failed`);
    console.log(`fuzz: ${fuzz.sent.udp} UDP + ${fuzz.sent.tcp} TCP mutants, ${fuzz.repliesSeen} replies`);
    console.log(
      `REGISTER latency first minute: ${describeWindow(registerSamples, startedAt, startedAt + WINDOW_MS)}`,
    );
    console.log(
      `REGISTER latency last minute:  ${describeWindow(registerSamples, windowEnd - WINDOW_MS, windowEnd + 1)}`,
    );
    console.log(
      `OPTIONS latency first minute:  ${describeWindow(optionsSamples, startedAt, startedAt + WINDOW_MS)}`,
    );
    console.log(
      `OPTIONS latency last minute:   ${describeWindow(optionsSamples, windowEnd - WINDOW_MS, windowEnd + 1)}`,
    );
    console.log(`OPTIONS unanswered: ${optionsFailures}`);
    console.log(`open at the end: ${JSON.stringify(pinhole.leftovers())}`);
    // The harness keeps every call record for the line above; they are not Pinhole's to keep.
    pinhole.records.length = 0;
    // Half-set-up dialogs and finished transactions live on until their timers (64*T1) end them.
    // The load generators share this process; the heap after GC once all that has passed is what
    // Pinhole itself kept.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    console.log(`heap after GC once settled: ${settledHeapMb().toFixed(1)} MB`);
    if (process.env.SOAK_HEAP_SNAPSHOT)
      console.log(`heap snapshot: ${v8.writeHeapSnapshot(process.env.SOAK_HEAP_SNAPSHOT)}`);
    console.log(
      `open ${SETTLE_MS / 1000} s later: ${JSON.stringify(pinhole.leftovers())}, transactions ${JSON.stringify(pinhole.running.sipServer?.stats().transactions)}`,
    );
    const healthy = (await optionsStatus(target)) === 200;
    return successRate >= 99 && healthy && corpus.wrong.length === 0 ? 0 : 1;
  } finally {
    await pbx.stop();
    await pinhole.stop();
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
