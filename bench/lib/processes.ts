import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

/** A child the bench started; stopped by its own PID only. */
export interface Tracked {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  isRunning(): boolean;
}

export interface SpawnOptions {
  cwd?: string;
  /** stdout and stderr go to this file (appended); otherwise they are discarded. */
  logFile?: string;
}

/** Every process the bench started, so each can be stopped by PID at the end or on a signal. */
export class ProcessSet {
  private readonly tracked = new Set<Tracked>();

  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): Tracked {
    const fd = options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', fd, fd] });
    if (typeof fd === 'number') fs.closeSync(fd);
    if (child.pid === undefined) throw new Error(`cannot start ${command}`);
    let running = true;
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        running = false;
        resolve(code);
      });
      child.once('error', () => {
        running = false;
        resolve(-1);
      });
    });
    const tracked: Tracked = { name, pid: child.pid, child, exited, isRunning: () => running };
    this.tracked.add(tracked);
    void exited.then(() => this.tracked.delete(tracked));
    return tracked;
  }

  /**
   * SIGTERM (SIGINT for tcpdump-like children that flush on it), then SIGKILL after `graceMs`.
   * Descendants noted before the stop (Kamailio's workers, a spawned rtpengine) are killed by PID
   * if they outlive their parent.
   */
  async stop(process_: Tracked, signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
    if (!process_.isRunning()) return;
    const descendants = descendantsOf(process_.pid);
    try {
      process.kill(process_.pid, signal);
    } catch {
      // Already gone between the check and the kill.
    }
    const timer = setTimeout(() => killQuietly(process_.pid, 'SIGKILL'), graceMs);
    await process_.exited;
    clearTimeout(timer);
    for (const pid of descendants) if (isAlive(pid)) killQuietly(pid, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.tracked].map((p) => this.stop(p)));
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return statState(stat) !== 'Z';
  } catch {
    return false;
  }
}

function statState(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

function parentOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** All living descendants of `pid`, read from /proc. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (statState(stat) === 'Z') continue;
    const parent = parentOf(stat);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The command name of a process (`comm`), or undefined when it is gone. */
export function commandOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 100 ms until it holds, or throws `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
