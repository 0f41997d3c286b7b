import { spawn } from 'node:child_process';

/** Outcome of one command; a non-zero exit is data, not an exception. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Kills the command (SIGKILL) after this long; the result then has code -1. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15000;

export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const [command, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    const finish = (result: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: -1, stdout: Buffer.concat(stdout).toString(), stderr: `timed out: ${argv.join(' ')}` });
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => finish({ code: -1, stdout: '', stderr: error.message }));
    child.once('close', (code, signal) =>
      finish({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      }),
    );
    // A command that exits without reading stdin makes the write fail with EPIPE; its exit code says more.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Like runCommand, but a failure throws with the command line and its stderr. */
export async function runChecked(argv: readonly string[], options: CommandOptions = {}): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) {
    throw new Error(`${argv.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

export function inNamespace(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

export async function listNamespaces(): Promise<string[]> {
  const output = await runChecked(['ip', 'netns', 'list']);
  // Lines look like "name" or "name (id: 3)".
  return output
    .split('\n')
    .map((line) => line.trim().split(' ')[0])
    .filter((name) => name.length > 0);
}

/** Links of the root namespace whose name starts with `prefix` (veths that never got moved). */
export async function rootLinksWithPrefix(prefix: string): Promise<string[]> {
  const output = await runChecked(['ip', '-o', 'link', 'show']);
  return output
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

async function namespacePids(ns: string): Promise<number[]> {
  const result = await runCommand(['ip', 'netns', 'pids', ns]);
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Kills every process still inside `ns`, then deletes it. A process left inside would keep the
 * namespace (and its veths) alive after `ip netns del` merely unmounts the name.
 */
export async function deleteNamespace(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = await namespacePids(ns);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited between the listing and the kill.
      }
    }
    await sleep(20);
  }
  const result = await runCommand(['ip', 'netns', 'del', ns]);
  if (result.code !== 0 && !/No such file/.test(result.stderr)) {
    throw new Error(`ip netns del ${ns} failed: ${result.stderr.trim()}`);
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
