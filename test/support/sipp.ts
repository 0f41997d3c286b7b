/**
 * Drives SIPp (Debian package sip-tester, `sipp` 3.6.x: `scripts/ensure-debs.sh sip-tester`) from
 * mocha. Each run gets its own temp dir for SIPp's message, error, stat and screen files; the
 * result carries their text, so a failing test can print what was on the wire.
 *
 * Every run binds 127.0.0.1:<localPort> (`-i 127.0.0.1 -bind_local`) and puts 127.0.0.1 in SDP.
 * Keys the scenarios use, with the defaults this harness passes (override through `keys`):
 *   caller=sipp        user part of From/Contact in requests a UAC scenario sends
 *   expires=3600       Expires of uac-register.xml (0 unregisters)
 *   nat_ip, nat_port   uas-registrar-rport.xml only: the received/rport it reports (no default)
 * `service` (-s) is the user being called / registered; `<pause/>` steps last `pauseMs`.
 *
 * Scenarios in test/scenarios (UAC = runSipp, UAS = startSippServer) and the peer each expects:
 *   uac-options            OPTIONS -> 200                               peer: Pinhole | uas-options
 *   uas-options            OPTIONS <- , 200                             peer: Pinhole | uac-options
 *   uac-register           REGISTER from a private Via (192.168.1.50:5062;rport), checks the 200's
 *                          Via has received=127.0.0.1 and rport=<local port>
 *                                                                      peer: Pinhole | uas-registrar-rport
 *   uas-registrar-rport    stand-in registrar: 200 with received=[nat_ip];rport=[nat_port]
 *                                                                      peer: uac-register
 *   uac-message            MESSAGE -> 200 or 202                        peer: Pinhole | uas-message
 *   uas-message            MESSAGE <- (text/plain body checked), 200    peer: Pinhole | uac-message
 *   uac-call-bye           INVITE/SDP, [100] [180], 200, ACK, pause, BYE, 200
 *                                                                      peer: Pinhole | uas-answer-wait-bye
 *   uac-call-wait-bye      INVITE, 200, ACK, waits for BYE, 200         peer: Pinhole | uas-answer-send-bye
 *   uas-answer-wait-bye    INVITE <-, 180, 200/SDP, ACK, BYE, 200       peer: Pinhole | uac-call-bye
 *   uas-answer-send-bye    INVITE <-, 200/SDP, ACK, pause, BYE ->, 200  peer: Pinhole | uac-call-wait-bye
 *   uac-cancel             INVITE, 180, CANCEL, 200 + 487 (any order), ACK
 *                                                                      peer: Pinhole | uas-ring-expect-cancel
 *   uas-ring-expect-cancel INVITE <-, 180, CANCEL, 200, 487, ACK        peer: Pinhole | uac-cancel
 *   uas-busy               INVITE <-, 486, ACK                          peer: Pinhole | uac-expect-busy
 *   uac-expect-busy        INVITE, 486, ACK                             peer: Pinhole | uas-busy
 *   uas-prack-183          INVITE (Supported: 100rel) <-, reliable 183/SDP, PRACK, 200, 200, ACK, BYE, 200
 *                                                                      peer: Pinhole | uac-prack
 *   uac-prack              INVITE, reliable 183, PRACK (RAck from the 183), 200, 200, ACK, BYE, 200
 *                                                                      peer: Pinhole | uas-prack-183
 *   uac-reinvite-hold      call up, re-INVITE sendonly, re-INVITE sendrecv, BYE
 *                                                                      peer: Pinhole | uas-answer-accept-reinvite
 *   uas-answer-accept-reinvite  answers, accepts any number of re-INVITEs, waits for BYE
 *                                                                      peer: Pinhole | uac-reinvite-hold
 *   uas-answer-reinvite-hold    answers, then re-INVITEs sendonly and sendrecv itself, waits for BYE
 *                                                                      peer: Pinhole | uac-call-accept-reinvite
 *   uac-call-accept-reinvite    calls, accepts any number of re-INVITEs, pause, BYE
 *                                                                      peer: Pinhole | uas-answer-reinvite-hold
 *   uac-update-early       INVITE, 183/SDP, UPDATE/SDP, 200, 200, ACK, BYE
 *                                                                      peer: Pinhole | uas-early-accept-update
 *   uas-early-accept-update    INVITE <-, 183/SDP, UPDATE, 200, 200, ACK, BYE, 200
 *                                                                      peer: Pinhole | uac-update-early
 *   uas-401                INVITE <-, 401 Digest, ACK, INVITE with Authorization, 200, ACK, BYE, 200
 *                                                                      peer: Pinhole | uac-call-auth
 *   uac-call-auth          INVITE, 401/407, ACK, INVITE with credentials (-au/-ap), 200, ACK, BYE
 *                                                                      peer: Pinhole | uas-401
 *   uac-no-ack             INVITE, 200, never ACKs; BYE must arrive within 40 s (needs timeoutMs >= 45000)
 *                                                                      peer: Pinhole only
 *   uac-invite-retrans     after the first provisional, the same INVITE again (same branch), 200, ACK,
 *                          BYE: one dialog only. Needs extraArgs ['-nr'] (see the scenario).
 *                                                                      peer: Pinhole -> uas-answer-wait-bye
 *                                                                      | uas-answer-absorb-retrans
 *   uas-answer-absorb-retrans  requires that retransmission on the same branch, repeats 180, answers
 *                          (extraArgs ['-nr'])                         peer: uac-invite-retrans
 * test/unit/support/sipp-pairs.test.ts runs each pair directly (UDP and TCP).
 * `errors` is not always empty on success: a recv that ends by its ontimeout (uac-call-accept-reinvite)
 * is logged there too. Judge a run by exitCode and the call counts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked, stopProcess, waitForExit } from './processes';

export interface SippOptions {
  /** File name in test/scenarios, or an absolute path. */
  scenario: string;
  /** host:port of the peer; omit for a UAS. */
  remote?: string;
  localPort: number;
  transport?: 'udp' | 'tcp';
  /** -m: exit after this many calls. runSipp defaults to 1; servers run until stopped. */
  calls?: number;
  /** -r: calls per second. */
  rate?: number;
  /** -s: user part of the Request-URI ([service]). */
  service?: string;
  /** -key k v, merged over the defaults listed at the top of this file. */
  keys?: Record<string, string>;
  /** Overall limit: SIPp's own -timeout, and a kill a little after it. Default 30000. */
  timeoutMs?: number;
  /** -d: length of `<pause/>` steps. Default 200. */
  pauseMs?: number;
  extraArgs?: string[];
  /** -inf: CSV injection file. */
  csvInjection?: string;
  /** Loopback address SIPp binds for SIP and media (default 127.0.0.1; e.g. 127.0.0.2 for a "PBX"). */
  localAddress?: string;
}

export interface SippResult {
  exitCode: number | null;
  successfulCalls: number;
  failedCalls: number;
  stdout: string;
  stderr: string;
  /** -trace_msg contents. */
  messages: string;
  /** -trace_err contents. */
  errors: string;
  /** -trace_logs contents: what the scenario's <log> actions wrote (the values its checks matched). */
  logs: string;
}

export interface SippServer {
  /** Resolves once SIPp listens on localPort; rejects if it exits first or never binds. */
  ready: Promise<void>;
  done: Promise<SippResult>;
  /** Lets calls in progress finish briefly (SIGUSR1), then terminates SIPp. */
  stop(): Promise<SippResult>;
}

export interface LoggedMessage {
  direction: 'sent' | 'received';
  transport: string;
  /** The SIP message as SIPp logged it (lines joined with \r\n). */
  text: string;
}

const LOCAL_IP = '127.0.0.1';
const DEFAULT_TIMEOUT_MS = 30000;
const DEFAULT_PAUSE_MS = 200;
/** How long after SIPp's own -timeout we stop waiting and kill it. */
const KILL_MARGIN_MS = 5000;
const READY_TIMEOUT_MS = 5000;
const READY_POLL_MS = 25;
const SOFT_STOP_GRACE_MS = 2000;
/** SIPp refreshes its screen on stdout every second; the tail is enough to see how it ended. */
const MAX_CAPTURED_OUTPUT = 64 * 1024;
const DEFAULT_KEYS: Record<string, string> = { caller: 'sipp', expires: '3600' };

export const scenarioDir = findScenarioDir();

/** test/scenarios, found upward from here so this works from test/support and dist/test/support. */
function findScenarioDir(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'test', 'scenarios');
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`test/scenarios not found above ${__dirname}`);
    dir = parent;
  }
}

export function scenarioPath(scenario: string): string {
  return path.isAbsolute(scenario) ? scenario : path.join(scenarioDir, scenario);
}

interface RunFiles {
  dir: string;
  messages: string;
  errors: string;
  stats: string;
  screen: string;
  logs: string;
}

function buildArgs(options: SippOptions, files: RunFiles, defaultCalls: number | undefined): string[] {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const localIp = options.localAddress ?? LOCAL_IP;
  const args = [
    '-sf', scenarioPath(options.scenario),
    '-i', localIp,
    '-mi', localIp,
    '-ci', localIp,
    '-bind_local',
    '-p', String(options.localPort),
    '-t', options.transport === 'tcp' ? 't1' : 'u1',
    '-nostdin',
    // One message read per event-loop cycle, so a scenario's next send happens before a response
    // that arrived right behind the previous one is matched (uac-invite-retrans relies on it).
    '-max_recv_loops', '1',
    '-d', String(options.pauseMs ?? DEFAULT_PAUSE_MS),
    '-timeout', `${timeoutMs}ms`,
    '-timeout_error',
    '-trace_msg', '-message_file', files.messages,
    '-trace_err', '-error_file', files.errors,
    '-trace_stat', '-stf', files.stats,
    '-trace_screen', '-screen_file', files.screen,
    '-trace_logs', '-log_file', files.logs,
  ]; // prettier-ignore
  const calls = options.calls ?? defaultCalls;
  if (calls !== undefined) args.push('-m', String(calls));
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.service !== undefined) args.push('-s', options.service);
  if (options.csvInjection !== undefined) args.push('-inf', options.csvInjection);
  for (const [key, value] of Object.entries({ ...DEFAULT_KEYS, ...options.keys })) {
    args.push('-key', key, value);
  }
  args.push(...(options.extraArgs ?? []));
  if (options.remote !== undefined) args.push(options.remote);
  return args;
}

function readIfPresent(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Cumulative call counts from the last row of SIPp's ';'-separated statistics file. */
function countsFromStats(csv: string): { successful: number; failed: number } | undefined {
  const rows = csv.split('\n').filter((line) => line.trim() !== '');
  if (rows.length < 2) return undefined;
  const header = rows[0].split(';');
  const last = rows[rows.length - 1].split(';');
  const successful = Number(last[header.indexOf('SuccessfulCall(C)')]);
  const failed = Number(last[header.indexOf('FailedCall(C)')]);
  if (Number.isNaN(successful) || Number.isNaN(failed)) return undefined;
  return { successful, failed };
}

/** Fallback when the statistics file was never flushed: the screen dump's cumulative column. */
function countsFromScreen(screen: string): { successful: number; failed: number } {
  const cumulative = (label: string): number => {
    const match = new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`).exec(screen);
    return match ? Number(match[1]) : 0;
  };
  return { successful: cumulative('Successful call'), failed: cumulative('Failed call') };
}

function appendCapped(buffer: string, chunk: Buffer): string {
  const joined = buffer + chunk.toString('utf8');
  return joined.length > MAX_CAPTURED_OUTPUT ? joined.slice(-MAX_CAPTURED_OUTPUT) : joined;
}

interface SippRun {
  child: ChildProcess;
  done: Promise<SippResult>;
}

function launch(options: SippOptions, defaultCalls: number | undefined): SippRun {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-sipp-'));
  const files: RunFiles = {
    dir,
    messages: path.join(dir, 'messages.log'),
    errors: path.join(dir, 'errors.log'),
    stats: path.join(dir, 'stats.csv'),
    screen: path.join(dir, 'screen.log'),
    logs: path.join(dir, 'logs.log'),
  };
  // cwd is the temp dir so any file SIPp names by itself lands there too.
  const child = spawnTracked('sipp', buildArgs(options, files, defaultCalls), { cwd: dir });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout = appendCapped(stdout, chunk)));
  child.stderr?.on('data', (chunk: Buffer) => (stderr = appendCapped(stderr, chunk)));

  const killTimer = setTimeout(
    () => void stopProcess(child, 'SIGTERM'),
    (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) + KILL_MARGIN_MS,
  );

  const done = new Promise<SippResult>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(killTimer);
      fs.rmSync(dir, { recursive: true, force: true });
      const hint = error.code === 'ENOENT' ? ' (install it: scripts/ensure-debs.sh sip-tester)' : '';
      reject(new Error(`cannot run sipp: ${error.message}${hint}`));
    });
    child.once('close', (code) => {
      clearTimeout(killTimer);
      const counts =
        countsFromStats(readIfPresent(files.stats)) ?? countsFromScreen(readIfPresent(files.screen));
      const result: SippResult = {
        exitCode: code,
        successfulCalls: counts.successful,
        failedCalls: counts.failed,
        stdout,
        stderr,
        messages: readIfPresent(files.messages),
        errors: readIfPresent(files.errors),
        logs: readIfPresent(files.logs),
      };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(result);
    });
  });
  return { child, done };
}

/** Runs a scenario that ends by itself (a UAC, by default one call) and returns how it went. */
export function runSipp(options: SippOptions): Promise<SippResult> {
  return launch(options, 1).done;
}

/** Starts a UAS scenario that waits for calls; `calls` makes it exit by itself after that many. */
export function startSippServer(options: SippOptions): SippServer {
  const { child, done } = launch(options, undefined);
  const ready = waitUntilListening(options.localPort, options.transport ?? 'udp', child);
  // A server that dies before it is ready rejects `ready`; `done` still resolves for inspection.
  ready.catch(() => undefined);
  const stop = async (): Promise<SippResult> => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGUSR1 is SIPp's "quit once calls in progress end"; a call stuck waiting is cut off by SIGTERM.
      child.kill('SIGUSR1');
      await Promise.race([waitForExit(child), delay(SOFT_STOP_GRACE_MS)]);
      await stopProcess(child, 'SIGTERM');
    }
    return done;
  };
  return { ready, done, stop };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until some socket is bound to 127.0.0.1:port (UDP) or listening on it (TCP), read from
 * /proc/net. Probing by binding the port ourselves would race SIPp's own bind and could make it
 * fail with "address in use"; reading the kernel's socket table cannot.
 */
async function waitUntilListening(
  port: number,
  transport: 'udp' | 'tcp',
  child: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sipp exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    }
    if (isBound(port, transport)) return;
    await delay(READY_POLL_MS);
  }
  throw new Error(`sipp did not listen on ${transport} port ${port} within ${READY_TIMEOUT_MS} ms`);
}

const TCP_LISTEN_STATE = '0A';
/** /proc/net prints IPv4 addresses little-endian: any 127.x.y.z ends in 7F. */
const LOOPBACK_HEX = /7F$/;
const ANY_HEX = '00000000';

function isBound(port: number, transport: 'udp' | 'tcp'): boolean {
  const table = readIfPresent(`/proc/net/${transport}`);
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const [address, localPort] = fields[1].split(':');
    if (localPort !== portHex || (!LOOPBACK_HEX.test(address) && address !== ANY_HEX)) continue;
    if (transport === 'udp' || fields[3] === TCP_LISTEN_STATE) return true;
  }
  return false;
}

/** Splits a -trace_msg log into the messages SIPp sent and received, in order. */
export function parseMessageLog(log: string): LoggedMessage[] {
  const messages: LoggedMessage[] = [];
  const marker = /^(UDP|TCP) message (sent|received)[^\n]*:\n/gm;
  const starts: { index: number; bodyStart: number; transport: string; direction: 'sent' | 'received' }[] =
    [];
  for (let match = marker.exec(log); match !== null; match = marker.exec(log)) {
    starts.push({
      index: match.index,
      bodyStart: match.index + match[0].length,
      transport: match[1],
      direction: match[2] === 'sent' ? 'sent' : 'received',
    });
  }
  starts.forEach((start, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].index : log.length;
    const raw = log.slice(start.bodyStart, end).replace(/\n-{20,}[^\n]*\n?$/, '');
    const text = raw.trim().split(/\r?\n/).join('\r\n');
    messages.push({ direction: start.direction, transport: start.transport, text });
  });
  return messages;
}
