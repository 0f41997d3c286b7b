import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { stopProcess } from '../../support/processes';
import type { Lab } from './topology';
import type { EchoReply } from './udp-peer';

/** A datagram one of the peer's sockets received. */
export interface PeerMessage {
  from: { address: string; port: number };
  data: string;
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  port?: number;
  address?: string;
}

interface Waiter {
  resolve: (message: PeerMessage | undefined) => void;
  timer: NodeJS.Timeout;
}

const PEER_SCRIPT = path.join(__dirname, 'udp-peer.js');
const REQUEST_TIMEOUT_MS = 10000;

/**
 * Test-side handle on a udp-peer.js process in a lab namespace: bind sockets there, send from
 * them, and read what they receive. Received datagrams queue per socket until read.
 */
export class UdpPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void }>();
  private readonly inbox = new Map<string, PeerMessage[]>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly stderr: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.exited.then(() => {
      for (const [, request] of this.pending) {
        request.resolve({
          id: 0,
          ok: false,
          error: `udp peer in ${ns} exited: ${this.stderr.join('').trim()}`,
        });
      }
      this.pending.clear();
    });
  }

  static start(lab: Pick<Lab, 'spawn'>, ns: string): UdpPeer {
    const child = lab.spawn(ns, [process.execPath, PEER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new UdpPeer(ns, child);
  }

  /** Binds a named socket and returns its port (`port` 0 or absent = any free port). */
  async bind(
    socket: string,
    options: { port?: number; address?: string; echo?: boolean } = {},
  ): Promise<number> {
    const reply = await this.request({ op: 'bind', socket, ...options });
    return reply.port!;
  }

  async send(socket: string, host: string, port: number, data: string): Promise<void> {
    await this.request({ op: 'send', socket, host, port, data });
  }

  /** The next datagram `socket` received, or undefined if none arrives within `timeoutMs`. */
  receive(socket: string, timeoutMs: number): Promise<PeerMessage | undefined> {
    const queued = this.inbox.get(socket)?.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const list = this.waiters.get(socket) ?? [];
          list.splice(list.indexOf(waiter), 1);
          resolve(undefined);
        }, timeoutMs),
      };
      const list = this.waiters.get(socket);
      if (list) list.push(waiter);
      else this.waiters.set(socket, [waiter]);
    });
  }

  /** Sends `data` to an echo socket and returns what the echo saw as the source. */
  async echo(socket: string, host: string, port: number, timeoutMs = 2000): Promise<EchoReply> {
    const data = `probe-${this.nextId}`;
    await this.send(socket, host, port, data);
    for (;;) {
      const message = await this.receive(socket, timeoutMs);
      if (!message) throw new Error(`no echo from ${host}:${port} to socket '${socket}' in ${this.ns}`);
      const reply = JSON.parse(message.data) as EchoReply;
      if (reply.data === data) return reply;
    }
  }

  /** Drops anything queued for `socket`, so a later receive sees only new traffic. */
  discard(socket: string): void {
    this.inbox.delete(socket);
  }

  async stop(): Promise<void> {
    for (const list of this.waiters.values()) {
      for (const waiter of list) {
        clearTimeout(waiter.timer);
        waiter.resolve(undefined);
      }
    }
    this.waiters.clear();
    this.child.stdin?.end();
    await stopProcess(this.child, 'SIGTERM', 1000);
  }

  private request(command: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`udp peer in ${this.ns} did not answer ${JSON.stringify(command)}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.ok) resolve(reply);
          else reject(new Error(`udp peer in ${this.ns}: ${reply.error}`));
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n');
    });
  }

  private onLine(line: string): void {
    const parsed = JSON.parse(line) as Reply & { event?: string; socket?: string } & Partial<PeerMessage>;
    if (parsed.event === 'message' && parsed.socket) {
      this.deliver(parsed.socket, { from: parsed.from!, data: parsed.data! });
    } else if (parsed.event === 'error') {
      this.stderr.push(`socket ${parsed.socket}: ${parsed.error}\n`);
    } else {
      const request = this.pending.get(parsed.id);
      this.pending.delete(parsed.id);
      request?.resolve(parsed);
    }
  }

  private deliver(socket: string, message: PeerMessage): void {
    const waiter = this.waiters.get(socket)?.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(message);
      return;
    }
    const queue = this.inbox.get(socket);
    if (queue) queue.push(message);
    else this.inbox.set(socket, [message]);
  }
}
