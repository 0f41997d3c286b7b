import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Child processes started by tests. Every child is remembered by pid until it exits so that
 * `stopAll()` (called from `after`) and, as a last resort, the process 'exit' hook can kill
 * whatever a failing test left running.
 */
const running = new Map<number, ChildProcess>();
const DEFAULT_GRACE_MS = 2000;

export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const pid = child.pid;
  if (pid !== undefined) {
    running.set(pid, child);
    child.once('exit', () => running.delete(pid));
  }
  return child;
}

export function trackedPids(): number[] {
  return [...running.keys()];
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves once the child has exited (immediately if it already has). */
export function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Sends `signal`, then SIGKILL if the child is still alive after `graceMs`. */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = DEFAULT_GRACE_MS,
): Promise<void> {
  if (hasExited(child)) return;
  const exited = waitForExit(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const escalate = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (!hasExited(child)) child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([exited, escalate]);
  clearTimeout(timer);
  await exited;
}

export async function stopAll(graceMs = DEFAULT_GRACE_MS): Promise<void> {
  await Promise.all([...running.values()].map((child) => stopProcess(child, 'SIGTERM', graceMs)));
}

// 'exit' handlers must be synchronous, so this can only send SIGKILL and hope.
process.on('exit', () => {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone between its exit and our bookkeeping.
    }
  }
});
