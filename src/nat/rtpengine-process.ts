import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { Client } from 'rtpengine-client';
import type { NgEndpoint } from './rtpengine-pool';

export interface LogSink {
  error(message: string, meta?: object): unknown;
  warn(message: string, meta?: object): unknown;
  info(message: string, meta?: object): unknown;
  debug(message: string, meta?: object): unknown;
}

export interface RtpengineProcessOptions {
  binary: string;
  interfaces: { name: string; address: string }[];
  ng: NgEndpoint;
  ports: { min: number; max: number };
  /**
   * rtpengine's per-call notices and info (new call, final packet stats, …) are wanted only when
   * debugging: at about 25 lines a call they were the largest cost on Pinhole's call path.
   */
  verbose?: boolean;
  logger: LogSink;
  readyTimeoutMs?: number;
  restartDelayMs?: { initial: number; max: number };
}

const DEFAULT_READY_TIMEOUT_MS = 5000;
/** syslog levels, as rtpengine's --log-level takes them. */
const LOG_LEVEL_WARNING = 4;
const LOG_LEVEL_INFO = 6;
const DEFAULT_RESTART = { initial: 250, max: 10_000 };
const STOP_GRACE_MS = 3000;
// A run this long counts as healthy, so the next crash starts the backoff over.
const STABLE_RUN_MS = 30_000;

/** Command-line arguments for a self-contained rtpengine that ignores /etc/rtpengine/rtpengine.conf. */
export function rtpengineArgs(
  options: Pick<RtpengineProcessOptions, 'interfaces' | 'ng' | 'ports' | 'verbose'>,
): string[] {
  return [
    '--config-file=none',
    '--table=-1',
    '--foreground',
    '--log-stderr',
    `--log-level=${options.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING}`,
    ...options.interfaces.map((i) => `--interface=${i.name}/${i.address}`),
    `--listen-ng=${options.ng.host}:${options.ng.port}`,
    `--port-min=${options.ports.min}`,
    `--port-max=${options.ports.max}`,
    '--delete-delay=0',
  ];
}

/** rtpengine's stderr lines look like `[1795242424.72] INFO: [callid]: [control] text`. */
export function logLevelOf(line: string): keyof LogSink {
  const match = /\b(EMERG|ALERT|CRIT|ERR|ERROR|WARNING|NOTICE|INFO|DEBUG):/.exec(line);
  switch (match?.[1]) {
    case 'EMERG':
    case 'ALERT':
    case 'CRIT':
    case 'ERR':
    case 'ERROR':
      return 'error';
    case 'WARNING':
      return 'warn';
    // Per-call chatter (new call, final stats): Pinhole's own call records say it once per call.
    case 'NOTICE':
    case 'INFO':
      return 'debug';
    default:
      return 'debug';
  }
}

/**
 * A spawned rtpengine, restarted with exponential backoff when it dies. Events: 'ready' (pid),
 * 'exit' (code, signal), 'restarting' (delayMs).
 */
export class RtpengineProcess extends EventEmitter {
  private child?: ChildProcess;
  private stopping = false;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  private readonly restartDelay: { initial: number; max: number };

  constructor(private readonly options: RtpengineProcessOptions) {
    super();
    this.restartDelay = options.restartDelayMs ?? DEFAULT_RESTART;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /**
   * Spawns rtpengine and resolves once its ng port answers a ping. Refuses when something already
   * answers there: a leftover rtpengine would take some of the calls' commands and not others.
   */
  async start(): Promise<void> {
    this.stopping = false;
    if (await this.ngAnswers())
      throw new Error(
        `something already answers ng on ${this.options.ng.host}:${this.options.ng.port} ` +
          '(another rtpengine?): stop it or use spawn: false to use it',
      );
    await this.launch();
  }

  private async ngAnswers(): Promise<boolean> {
    const client = new Client({ timeout: 300 });
    client.on('error', () => undefined);
    try {
      return (await client.ping(this.options.ng).catch(() => undefined))?.result === 'pong';
    } finally {
      client.close();
    }
  }

  /** Stops rtpengine by its PID (SIGTERM, then SIGKILL) and cancels any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private async launch(): Promise<void> {
    const { logger } = this.options;
    const [command, args] = rtpengineCommand(this.options.binary, rtpengineArgs(this.options));
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    for (const stream of [child.stdout!, child.stderr!])
      createInterface({ input: stream }).on('line', (line) =>
        logger[logLevelOf(line)](line, { component: 'rtpengine', pid: child.pid }),
      );
    const spawnFailed = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new Error(`cannot start ${this.options.binary}: ${err.message}`))),
    );
    child.once('exit', (code, signal) => {
      this.emit('exit', code, signal);
      if (this.stopping || this.child !== child) return;
      logger.error('rtpengine exited', { code, signal, pid: child.pid });
      this.failures = Date.now() - startedAt > STABLE_RUN_MS ? 1 : this.failures + 1;
      this.scheduleRestart();
    });
    await Promise.race([this.waitForPing(child), spawnFailed]);
    this.emit('ready', child.pid);
  }

  private scheduleRestart(): void {
    if (this.restartTimer || this.stopping) return;
    const delay = Math.min(this.restartDelay.max, this.restartDelay.initial * 2 ** (this.failures - 1));
    this.emit('restarting', delay);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.launch().catch((err: Error) => {
        this.options.logger.error('rtpengine restart failed', { error: err.message });
        if (this.stopping) return;
        // A child that is running but deaf is killed, and its exit schedules the next try.
        if (this.pid !== undefined) this.child!.kill('SIGKILL');
        else this.scheduleRestart();
      });
    }, delay);
  }

  private async waitForPing(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    const client = new Client({ timeout: 200 });
    client.on('error', () => undefined);
    try {
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(
            `rtpengine exited during startup (code ${child.exitCode}, signal ${child.signalCode})`,
          );
        const reply = await client.ping(this.options.ng).catch(() => undefined);
        if (reply?.result === 'pong') return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(
        `rtpengine did not answer ng ping on ${this.options.ng.host}:${this.options.ng.port} in time`,
      );
    } finally {
      client.close();
    }
  }
}

const SETPRIV = '/usr/bin/setpriv';
const PRLIMIT = '/usr/bin/prlimit';
/** What Debian's rtpengine-daemon unit allows (LimitNOFILE): every relayed port is a socket. */
export const RTPENGINE_OPEN_FILES = 150_000;
const CAP_SYS_RESOURCE = 24;

/**
 * The command that runs rtpengine as Pinhole wants it: under util-linux's setpriv with a
 * parent-death signal, so a Pinhole killed with SIGKILL (the OOM killer, kill -9) takes its
 * rtpengine along instead of leaving it holding the ng port; and under prlimit with as many open
 * files as the system lets us give, since rtpengine holds about four sockets per call and the
 * usual 1024 (or a container's 20000) would cap it at a few hundred (or 5,000) calls.
 */
export function rtpengineCommand(binary: string, args: string[]): [string, string[]] {
  let command: [string, string[]] = [binary, args];
  if (fs.existsSync(SETPRIV)) command = [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...args]];
  const limits = openFilesLimits();
  const target = limits && grantableOpenFiles(limits.hard);
  if (target && target > limits.soft && fs.existsSync(PRLIMIT))
    command = [PRLIMIT, [`--nofile=${target}:${target}`, '--', command[0], ...command[1]]];
  return command;
}

/** The open-files limit an rtpengine started by this process can get. */
export function rtpengineOpenFiles(): number | null {
  const limits = openFilesLimits();
  return limits && Math.max(limits.soft, grantableOpenFiles(limits.hard));
}

/** Above the hard limit only with CAP_SYS_RESOURCE (root in a container may lack it). */
function grantableOpenFiles(hard: number): number {
  if (!hasCapability(CAP_SYS_RESOURCE)) return hard;
  return Math.max(hard, Math.min(RTPENGINE_OPEN_FILES, readNumber('/proc/sys/fs/nr_open') ?? hard));
}

function openFilesLimits(): { soft: number; hard: number } | null {
  const text = readText('/proc/self/limits');
  const match = text && /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!match) return null;
  const value = (field: string) => (field === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(field));
  return { soft: value(match[1]), hard: value(match[2]) };
}

function hasCapability(bit: number): boolean {
  const match = /^CapEff:\s+([0-9a-f]+)$/m.exec(readText('/proc/self/status') ?? '');
  return match !== null && ((BigInt(`0x${match[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

function readNumber(file: string): number | null {
  const value = Number(readText(file)?.trim());
  return Number.isFinite(value) && value > 0 ? value : null;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
