import { once, type EventEmitter } from 'node:events';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A small SIP request; with `body`, Content-Length counts it. */
export function sipRequest(callId: string, body = ''): Buffer {
  return Buffer.from(
    `OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n` +
      `Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-${callId}\r\n` +
      `From: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\n` +
      `Call-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The next emission of `event`, failing the test after `timeoutMs` instead of hanging it. */
export async function nextEvent<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  timeoutMs = 5000,
): Promise<T> {
  try {
    return (await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })) as T;
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new Error(`no '${event}' event within ${timeoutMs} ms`);
    throw err;
  }
}

/** Resolves when the socket closes, whatever error preceded it (a reset is a way to close). */
export function socketClosed(socket: EventEmitter, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls until `check` holds, for states no event announces. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(10);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Everything a socket has received so far, with a way to wait for more. */
export class ByteCollector {
  private received = Buffer.alloc(0);

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  async waitForText(expected: string, timeoutMs = 5000): Promise<void> {
    await eventually(
      () => this.text.includes(expected),
      `the socket received ${JSON.stringify(expected)}`,
      timeoutMs,
    );
  }
}

export async function connectTcp(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await nextEvent(socket, 'connect');
  return socket;
}

export async function udpClient(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

/** True when this host can bind to ::1. */
export async function ipv6Available(): Promise<boolean> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '::1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) server.close();
  }
}

/** Things a test started, stopped in afterEach whether it passed or not. */
export class Cleanup {
  private readonly tasks: (() => unknown)[] = [];

  add(task: () => unknown): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    const tasks = this.tasks.splice(0).reverse();
    for (const task of tasks) {
      try {
        await task();
      } catch {
        // One failing teardown must not leave the rest running.
      }
    }
  }
}
