import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { stopProcess } from '../../support/processes';
import type { Lab } from '../lab/topology';
import type { AgentCommand } from './agent';
import type { MeterCounts } from './rtp-meter';
import type { MediaAddress } from './sdp';
import type { CallResult, IncomingCall, PhoneOptions } from './softphone';

const AGENT_SCRIPT = path.join(__dirname, 'agent.js');
const DEFAULT_TIMEOUT_MS = 20000;

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** The test's handle on an agent.js process inside one lab namespace. */
export class LabAgent {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly stderr: string[] = [];

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      const resolve = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      resolve?.(reply);
    });
    child.once('exit', (code, signal) => {
      for (const resolve of this.pending.values())
        resolve({
          id: 0,
          ok: false,
          error: `agent in ${ns} exited (${code ?? signal}): ${this.stderr.join('').trim()}`,
        });
      this.pending.clear();
    });
  }

  static start(lab: Pick<Lab, 'spawn'>, ns: string): LabAgent {
    const child = lab.spawn(ns, [process.execPath, AGENT_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new LabAgent(ns, child);
  }

  request<T>(command: AgentCommand, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`agent in ${this.ns}: no answer to ${command.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(`agent in ${this.ns}: ${command.op}: ${reply.error}`));
      });
      this.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n');
    });
  }

  async openMeter(meter: string, address: string): Promise<number> {
    return (await this.request<{ port: number }>({ op: 'rtp-open', meter, address })).port;
  }

  async expect(meter: string, tag: string): Promise<void> {
    await this.request({ op: 'rtp-expect', meter, tag });
  }

  async stream(
    meter: string,
    to: MediaAddress,
    count: number,
    intervalMs: number,
    tag: string,
  ): Promise<void> {
    await this.request(
      { op: 'rtp-stream', meter, host: to.host, port: to.port, count, intervalMs, tag },
      count * intervalMs + DEFAULT_TIMEOUT_MS,
    );
  }

  counts(meter: string): Promise<MeterCounts> {
    return this.request({ op: 'rtp-counts', meter });
  }

  async resetMeter(meter: string): Promise<void> {
    await this.request({ op: 'rtp-reset', meter });
  }

  async closeMeter(meter: string): Promise<void> {
    await this.request({ op: 'rtp-close', meter });
  }

  async startPhone(phone: string, options: PhoneOptions): Promise<void> {
    await this.request({ op: 'phone-start', phone, ...options });
  }

  async register(phone: string, expires = 300): Promise<number> {
    return (await this.request<{ status: number }>({ op: 'register', phone, expires })).status;
  }

  call(phone: string, target: string, rtpPort: number): Promise<CallResult> {
    return this.request({ op: 'call', phone, target, rtpPort }, 40000);
  }

  answerNext(phone: string, rtpPort: number, timeoutMs: number): Promise<IncomingCall> {
    return this.request({ op: 'answer-next', phone, rtpPort, timeoutMs }, timeoutMs + 5000);
  }

  async hangup(phone: string, callId: string): Promise<number> {
    return (await this.request<{ status: number }>({ op: 'hangup', phone, callId }, 40000)).status;
  }

  async waitForBye(phone: string, callId: string, timeoutMs: number): Promise<void> {
    await this.request({ op: 'wait-bye', phone, callId, timeoutMs }, timeoutMs + 5000);
  }

  phoneInfo(phone: string): Promise<{ optionsAnswered: number; problems: string[] }> {
    return this.request({ op: 'phone-info', phone });
  }

  async closePhone(phone: string): Promise<void> {
    await this.request({ op: 'phone-close', phone });
  }

  async stop(): Promise<void> {
    this.child.stdin?.end();
    await stopProcess(this.child, 'SIGTERM', 1000);
  }
}
