import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

/**
 * A UDP media endpoint for tests: sends a stream of PCMU RTP packets, counts what arrives (RTP and
 * RTCP apart, anything else ignored), and can echo RTP back to its source. Tests put one behind each
 * SIPp "phone" and "PBX", so relayed media is counted where it lands rather than inferred from the
 * relay's own statistics.
 */
const RTP_HEADER_BYTES = 12;
const RTP_VERSION = 2;
const PCMU_PAYLOAD_TYPE = 0;
/** 20 ms of 8 kHz PCMU: 160 samples, one byte each. */
const SAMPLES_PER_PACKET = 160;
/** PCMU's encoding of silence. */
const PCMU_SILENCE = 0xff;
const DEFAULT_INTERVAL_MS = 20;
/** RTCP packet types SR, RR, SDES, BYE and APP (RFC 3550 12.1) in the byte RTP uses for M+PT. */
const RTCP_TYPE_FIRST = 200;
const RTCP_TYPE_LAST = 204;
/** An RTCP header plus the sender's SSRC, as in an empty receiver report. */
const RTCP_MIN_BYTES = 8;

export interface MediaTarget {
  host: string;
  port: number;
}

type PacketKind = 'rtp' | 'rtcp' | 'other';

/** Validates the fixed header and that the CSRC list, extension and padding fit the datagram. */
function classify(packet: Buffer): PacketKind {
  if (packet.length < RTCP_MIN_BYTES || packet[0] >> 6 !== RTP_VERSION) return 'other';
  const secondByte = packet[1];
  if (secondByte >= RTCP_TYPE_FIRST && secondByte <= RTCP_TYPE_LAST) return 'rtcp';
  if (packet.length < RTP_HEADER_BYTES) return 'other';
  let headerLength = RTP_HEADER_BYTES + (packet[0] & 0x0f) * 4;
  if (packet[0] & 0x10) {
    if (packet.length < headerLength + 4) return 'other';
    headerLength += 4 + packet.readUInt16BE(headerLength + 2) * 4;
  }
  const padding = packet[0] & 0x20 ? packet[packet.length - 1] : 0;
  return headerLength + padding <= packet.length ? 'rtp' : 'other';
}

interface Waiter {
  count: number;
  resolve: (reached: number) => void;
  timer: NodeJS.Timeout;
}

interface Stream {
  timer: NodeJS.Timeout;
  finish: () => void;
}

export class RtpEndpoint {
  readonly port: number;
  readonly address: string;
  /** Every source that sent a valid RTP or RTCP packet, as "host:port". */
  readonly sources = new Set<string>();
  private receivedCount = 0;
  private rtcpCount = 0;
  private sentCount = 0;
  private echoing = false;
  private closed = false;
  private sequence = Math.floor(Math.random() * 0x10000);
  private timestamp = Math.floor(Math.random() * 0x100000000);
  private readonly ssrc = Math.floor(Math.random() * 0x100000000);
  private readonly payload = Buffer.alloc(SAMPLES_PER_PACKET, PCMU_SILENCE);
  private readonly waiters = new Set<Waiter>();
  private readonly streams = new Set<Stream>();

  private constructor(private readonly socket: dgram.Socket) {
    const bound = socket.address() as AddressInfo;
    this.port = bound.port;
    this.address = bound.address;
    socket.on('message', (packet, from) => this.onPacket(packet, from));
    // Sends to unreachable private addresses fail in their callback; nothing here may crash a test.
    socket.on('error', () => undefined);
  }

  /** Binds 127.0.0.1 (or `address`) on `port`, or on a free port when none is given. */
  static open(options: { port?: number; address?: string } = {}): Promise<RtpEndpoint> {
    const address = options.address ?? '127.0.0.1';
    const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: options.port ?? 0, address, exclusive: true }, () => {
        socket.removeListener('error', reject);
        resolve(new RtpEndpoint(socket));
      });
    });
  }

  /** RTP packets received (version 2, not RTCP). */
  get received(): number {
    return this.receivedCount;
  }

  get rtcpReceived(): number {
    return this.rtcpCount;
  }

  /** RTP packets handed to the socket by `send` (echoed packets not included). */
  get sent(): number {
    return this.sentCount;
  }

  /**
   * Sends `count` RTP packets, one every `intervalMs`, continuing this endpoint's sequence numbers
   * and timestamps. Resolves once all are sent, or early if the endpoint is closed meanwhile.
   */
  send(target: MediaTarget, count: number, intervalMs = DEFAULT_INTERVAL_MS): Promise<void> {
    if (this.closed || count <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      let remaining = count;
      const stream: Stream = {
        timer: setInterval(() => {
          this.sendPacket(target);
          if (--remaining === 0) stream.finish();
        }, intervalMs),
        finish: () => {
          clearInterval(stream.timer);
          this.streams.delete(stream);
          resolve();
        },
      };
      this.streams.add(stream);
      this.sendPacket(target);
      if (--remaining === 0) stream.finish();
    });
  }

  /** While enabled, every RTP packet received is sent straight back to where it came from. */
  echo(enabled: boolean): void {
    this.echoing = enabled;
  }

  /** Resolves with the RTP count once it reaches `count`, or with whatever arrived by `timeoutMs`. */
  waitForReceived(count: number, timeoutMs: number): Promise<number> {
    if (this.receivedCount >= count || this.closed) return Promise.resolve(this.receivedCount);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        count,
        resolve,
        timer: setTimeout(() => this.settle(waiter), timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const stream of [...this.streams]) stream.finish();
    for (const waiter of [...this.waiters]) this.settle(waiter);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private sendPacket(target: MediaTarget): void {
    const header = Buffer.alloc(RTP_HEADER_BYTES);
    header[0] = RTP_VERSION << 6;
    header[1] = PCMU_PAYLOAD_TYPE;
    header.writeUInt16BE(this.sequence, 2);
    header.writeUInt32BE(this.timestamp, 4);
    header.writeUInt32BE(this.ssrc, 8);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + SAMPLES_PER_PACKET) >>> 0;
    this.sentCount++;
    this.socket.send([header, this.payload], target.port, target.host, () => undefined);
  }

  private onPacket(packet: Buffer, from: dgram.RemoteInfo): void {
    const kind = classify(packet);
    if (kind === 'other') return;
    this.sources.add(`${from.address}:${from.port}`);
    if (kind === 'rtcp') {
      this.rtcpCount++;
      return;
    }
    this.receivedCount++;
    if (this.echoing) this.socket.send(packet, from.port, from.address, () => undefined);
    for (const waiter of [...this.waiters]) {
      if (this.receivedCount >= waiter.count) this.settle(waiter);
    }
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
    waiter.resolve(this.receivedCount);
  }
}

/**
 * Where to send audio according to an SDP: the first m=audio line's port and the connection address
 * that applies to it (its own c= line, else the session's). Null without an audio stream, a
 * connection address, or with port 0 (a rejected stream).
 */
export function audioTarget(sdp: string): MediaTarget | null {
  let sessionHost: string | undefined;
  let audioHost: string | undefined;
  let audioPort: number | undefined;
  let section: 'session' | 'audio' | 'other' = 'session';
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      if (audioPort !== undefined) break;
      const [media, port] = line.slice(2).split(' ');
      section = media === 'audio' ? 'audio' : 'other';
      if (section === 'audio') audioPort = Number((port ?? '').split('/')[0]);
    } else if (line.startsWith('c=')) {
      // c=IN IP4 <address>[/ttl[/count]]
      const host = line.slice(2).trim().split(/\s+/)[2]?.split('/')[0];
      if (section === 'session') sessionHost = host;
      else if (section === 'audio') audioHost = host;
    }
  }
  const host = audioHost ?? sessionHost;
  if (audioPort === undefined || !Number.isInteger(audioPort) || audioPort === 0 || !host) return null;
  return { host, port: audioPort };
}
