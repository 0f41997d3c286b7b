/**
 * Raw bytes to a SIP listener and whatever comes back, for input that no well-behaved UA would
 * send. Each exchange uses its own socket (UDP) or connection (TCP), so every reply belongs to
 * the message that caused it, and a connection the server closes is seen as closed.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { StreamFramer } from '../../../src/sipserver/message';

export type WireProtocol = 'udp' | 'tcp';

export interface Exchange {
  /** Every SIP message received during the wait, as raw text (latin1, byte for byte). */
  replies: string[];
  /** TCP only: the server closed (or reset) the connection during the wait. */
  closedByServer: boolean;
}

export interface SendOptions {
  protocol: WireProtocol;
  host: string;
  port: number;
  /** How long to collect replies. */
  waitMs: number;
  /** Stop waiting as soon as a reply with a final status (>= 200) arrived. */
  untilFinal?: boolean;
}

const MAX_REPLY_SIZE = 65535;
const FINAL = /^SIP\/2\.0 [2-6]\d\d /;

/** Sends `data` once and collects the replies for up to `waitMs`. */
export function exchange(data: Buffer, options: SendOptions): Promise<Exchange> {
  return options.protocol === 'udp' ? exchangeUdp(data, options) : exchangeTcp(data, options);
}

function collector(options: SendOptions, finish: () => void) {
  const replies: string[] = [];
  return {
    replies,
    add(message: Buffer) {
      const text = message.toString('latin1');
      replies.push(text);
      if (options.untilFinal && FINAL.test(text)) finish();
    },
  };
}

function exchangeUdp(data: Buffer, options: SendOptions): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close(() => resolve({ replies: got.replies, closedByServer: false }));
    };
    const got = collector(options, finish);
    socket.on('message', (message) => got.add(message));
    // ICMP port unreachable surfaces as an error on a later send; the exchange just ends early.
    socket.on('error', () => finish());
    socket.bind(0, '127.0.0.1', () => {
      socket.send(data, options.port, options.host, (err) => {
        if (err) {
          done = true;
          socket.close();
          reject(err);
          return;
        }
        timer = setTimeout(finish, options.waitMs);
      });
    });
  });
}

function exchangeTcp(data: Buffer, options: SendOptions): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options.port, options.host);
    const framer = new StreamFramer(MAX_REPLY_SIZE);
    let closedByServer = false;
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ replies: got.replies, closedByServer });
    };
    const got = collector(options, finish);
    socket.on('data', (chunk) => {
      for (const event of framer.push(chunk)) {
        if (event.kind === 'message') got.add(event.data);
        // A reply we cannot frame still counts as something sent back.
        else if (event.kind === 'error') got.add(chunk);
      }
    });
    socket.on('close', () => {
      closedByServer = !done;
      if (!connected) return;
      finish();
    });
    socket.on('error', (err) => {
      if (!connected) {
        done = true;
        reject(err);
      }
    });
    socket.on('connect', () => {
      connected = true;
      socket.write(data);
      timer = setTimeout(finish, options.waitMs);
    });
  });
}

/**
 * Sends many datagrams or stream writes from a small pool of sockets without waiting for
 * replies: the fuzzer's firehose. Replies are counted, not kept.
 */
export class Blaster {
  private readonly udp: dgram.Socket[] = [];
  private tcp: net.Socket[] = [];
  repliesSeen = 0;

  private constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  static async open(host: string, port: number, udpSockets = 4): Promise<Blaster> {
    const blaster = new Blaster(host, port);
    for (let i = 0; i < udpSockets; i++) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', () => blaster.repliesSeen++);
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      blaster.udp.push(socket);
    }
    return blaster;
  }

  sendUdp(data: Buffer, index: number): Promise<void> {
    const socket = this.udp[index % this.udp.length];
    return new Promise((resolve) => socket.send(data, this.port, this.host, () => resolve()));
  }

  /**
   * Writes `data` on a fresh connection and closes it after `holdMs`, so that a message cut short
   * does not poison the framing of the next one.
   */
  async sendTcp(data: Buffer, holdMs: number): Promise<void> {
    const socket = net.connect(this.port, this.host);
    this.tcp.push(socket);
    socket.on('data', () => this.repliesSeen++);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.tcp = this.tcp.filter((s) => s !== socket);
    });
    await new Promise<void>((resolve) => {
      socket.once('connect', resolve);
      socket.once('error', () => resolve());
    });
    if (socket.destroyed) return;
    socket.write(data);
    setTimeout(() => socket.destroy(), holdMs);
  }

  async close(): Promise<void> {
    for (const socket of this.tcp) socket.destroy();
    await Promise.all(this.udp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
