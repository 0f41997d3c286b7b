import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { stopProcess, waitForExit } from '../../support/processes';
import type { Lab } from '../lab/topology';

/**
 * SIPp inside a lab namespace (test/support/sipp.ts runs it on the host's loopback only). Every
 * run keeps its message and error traces in `traceDir`, so a failed cell leaves its SIP behind.
 */
export interface NsSippOptions {
  ns: string;
  /** File name in test/e2e/scenarios. */
  scenario: string;
  localAddress: string;
  localPort: number;
  /** host:port to call; absent for a UAS. */
  remote?: string;
  service?: string;
  keys: Record<string, string>;
  /** -m: exit after this many calls. */
  calls: number;
  timeoutMs: number;
  /** Directory for this run's traces; file names start with `name`. */
  traceDir: string;
  name: string;
}

export interface NsSippRun {
  pid: number;
  /** Resolves once SIPp's UDP socket is bound in its namespace. */
  ready: Promise<void>;
  /** SIPp's exit code (0: every call succeeded). */
  done: Promise<number | null>;
  messagesFile: string;
  errorsFile: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 5000;
const READY_POLL_MS = 25;

export const e2eScenarioDir = findUp(path.join('test', 'e2e', 'scenarios'));

function findUp(relative: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`${relative} not found above ${__dirname}`);
  }
}

export function startSippInNs(lab: Pick<Lab, 'spawn'>, options: NsSippOptions): NsSippRun {
  const base = path.join(options.traceDir, options.name);
  const messagesFile = `${base}.messages.log`;
  const errorsFile = `${base}.errors.log`;
  const args = [
    'sipp',
    '-sf', path.join(e2eScenarioDir, options.scenario),
    '-i', options.localAddress,
    '-mi', options.localAddress,
    '-p', String(options.localPort),
    '-t', 'u1',
    '-nostdin',
    '-m', String(options.calls),
    '-timeout', `${options.timeoutMs}ms`,
    '-timeout_error',
    '-trace_msg', '-message_file', messagesFile,
    '-trace_err', '-error_file', errorsFile,
    '-trace_logs', '-log_file', `${base}.logs.log`,
    '-trace_screen', '-screen_file', `${base}.screen.log`,
  ]; // prettier-ignore
  if (options.service !== undefined) args.push('-s', options.service);
  for (const [key, value] of Object.entries(options.keys)) args.push('-key', key, value);
  if (options.remote !== undefined) args.push(options.remote);
  const child = lab.spawn(options.ns, args, { cwd: options.traceDir, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = waitUntilBound(child, options.localPort);
  ready.catch(() => undefined);
  return {
    pid: child.pid ?? -1,
    ready,
    done: exited,
    messagesFile,
    errorsFile,
    async stop() {
      await stopProcess(child, 'SIGTERM', 1000);
      await waitForExit(child);
    },
  };
}

/**
 * /proc/PID/net/udp lists the sockets of PID's network namespace, so this sees SIPp's socket
 * inside the lab without entering the namespace.
 */
async function waitUntilBound(child: ChildProcess, port: number): Promise<void> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`sipp exited (${child.exitCode ?? child.signalCode}) before binding port ${port}`);
    let table = '';
    try {
      table = fs.readFileSync(`/proc/${child.pid}/net/udp`, 'utf8');
    } catch {
      // Not exec'd into sipp yet, or already gone: the exit check above decides.
    }
    const bound = table
      .split('\n')
      .slice(1)
      .some((line) => line.trim().split(/\s+/)[1]?.split(':')[1] === portHex);
    if (bound) return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new Error(`sipp did not bind UDP port ${port} within ${READY_TIMEOUT_MS} ms`);
}
