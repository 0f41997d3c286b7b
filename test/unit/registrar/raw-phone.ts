import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A bare SIP phone on loopback for registrar tests: sends text, collects whatever comes back. */
export interface RawPhone {
  port: number;
  received: string[];
  send(text: string): void;
  /** Resolves with the first received message (after `from`) that matches. */
  waitFor(match: (msg: string) => boolean, timeoutMs?: number, from?: number): Promise<string>;
  close(): Promise<void>;
}

function waiter(received: string[]) {
  return async (match: (msg: string) => boolean, timeoutMs = 5000, from = 0): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = received.slice(from).find(match);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`phone: no matching message; got:\n${received.join('\n---\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
}

export async function udpPhone(serverPort: number): Promise<RawPhone> {
  const socket = dgram.createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (buf) => received.push(buf.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    received,
    send: (text) => socket.send(text, serverPort, '127.0.0.1'),
    waitFor: waiter(received),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

export async function tcpPhone(serverPort: number): Promise<RawPhone> {
  const socket = net.connect(serverPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const received: string[] = [];
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffer.slice(0, end + 4);
      const length = Number(/\r\nContent-Length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      received.push(buffer.slice(0, end + 4 + length));
      buffer = buffer.slice(end + 4 + length);
    }
  });
  return {
    port: socket.localPort ?? 0,
    received,
    send: (text) => socket.write(text),
    waitFor: waiter(received),
    close: () =>
      new Promise((resolve) => {
        if (socket.closed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  };
}

export interface RegisterFields {
  user: string;
  serverPort: number;
  transport?: 'UDP' | 'TCP';
  callId?: string;
  cseq?: number;
  /** Contact header values; default one private contact. Pass [] for a query. */
  contacts?: string[];
  expires?: string | null;
  extraHeaders?: string[];
  omitTo?: boolean;
}

let branchCounter = 0;

export function registerText(f: RegisterFields): string {
  const transport = f.transport ?? 'UDP';
  const lines = [
    `REGISTER sip:127.0.0.1:${f.serverPort} SIP/2.0`,
    `Via: SIP/2.0/${transport} 192.168.1.50:5062;branch=z9hG4bK-raw-${process.pid}-${++branchCounter};rport`,
    `From: <sip:${f.user}@127.0.0.1>;tag=raw${branchCounter}`,
    ...(f.omitTo ? [] : [`To: <sip:${f.user}@127.0.0.1>`]),
    `Call-ID: ${f.callId ?? `raw-${f.user}-${process.pid}`}`,
    `CSeq: ${f.cseq ?? 1} REGISTER`,
    ...(f.contacts ?? [`<sip:${f.user}@192.168.1.50:5062;transport=${transport.toLowerCase()}>`]).map(
      (c) => `Contact: ${c}`,
    ),
    ...(f.expires === null ? [] : [`Expires: ${f.expires ?? '3600'}`]),
    'Max-Forwards: 70',
    ...(f.extraHeaders ?? []),
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** `SIP/2.0 <status> <reason>` of a response text. */
export function statusLine(msg: string): { status: number; reason: string } | null {
  const m = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(msg);
  return m ? { status: Number(m[1]), reason: m[2] } : null;
}

/** Answers every OPTIONS the phone gets with 200 (a live phone for keepalives). */
export function answerOptions(phone: RawPhone): () => void {
  let seen = 0;
  const timer = setInterval(() => {
    for (; seen < phone.received.length; seen++) {
      const msg = phone.received[seen];
      if (!msg.startsWith('OPTIONS ')) continue;
      const keep = msg.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
      phone.send(`SIP/2.0 200 OK\r\n${keep.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`);
    }
  }, 10);
  return () => clearInterval(timer);
}
