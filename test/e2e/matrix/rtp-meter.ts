import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';

/**
 * One RTP port of a lab endpoint (phone or PBX): sends a paced PCMU stream to where the SDP it
 * received points, and counts the packets that arrive from its peer. Each stream stamps a tag at
 * the start of every payload, so the far end counts only its peer's packets, never strays.
 */
export interface StreamPlan {
  host: string;
  port: number;
  count: number;
  intervalMs: number;
  /** Stamped into every payload; the receiver counts packets carrying the tag it expects. */
  tag: string;
}

export interface MeterCounts {
  /** Packets sent since the last reset. */
  sent: number;
  /** RTP packets carrying the expected tag since the last reset. */
  received: number;
  /** Datagrams that were not RTP with the expected tag. */
  foreign: number;
  /** Every "address:port" the counted packets came from, in order of first appearance. */
  sources: string[];
  /** Packets the kernel refused to send (no route, say); they count as sent and lost. */
  sendErrors: number;
  lastSendError: string | null;
}

const RTP_HEADER_BYTES = 12;
const PCMU_PAYLOAD_TYPE = 0;
const SAMPLES_PER_PACKET = 160;
const PCMU_SILENCE = 0xff;
const TAG_BYTES = 24;

export class RtpMeter {
  private sent = 0;
  private received = 0;
  private foreign = 0;
  private sendErrors = 0;
  private lastSendError: string | null = null;
  private readonly streams = new Set<{ timer: NodeJS.Timeout; finish: () => void }>();
  private readonly sources: string[] = [];
  private expected: Buffer | null = null;
  private sequence = randomBytes(2).readUInt16BE();
  private timestamp = randomBytes(4).readUInt32BE();
  private readonly ssrc = randomBytes(4).readUInt32BE();

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (packet, remote) => this.count(packet, `${remote.address}:${remote.port}`));
  }

  static open(address: string): Promise<RtpMeter> {
    const socket = dgram.createSocket('udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port: 0 }, () => {
        socket.off('error', reject);
        resolve(new RtpMeter(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** From now on, count packets stamped with `tag`. */
  expect(tag: string): void {
    this.expected = stamp(tag);
  }

  reset(): void {
    this.sent = 0;
    this.received = 0;
    this.foreign = 0;
    this.sendErrors = 0;
    this.lastSendError = null;
    this.sources.length = 0;
  }

  counts(): MeterCounts {
    return {
      sent: this.sent,
      received: this.received,
      foreign: this.foreign,
      sources: [...this.sources],
      sendErrors: this.sendErrors,
      lastSendError: this.lastSendError,
    };
  }

  /**
   * Sends `count` packets `intervalMs` apart; resolves once the last one is handed to the kernel
   * (or the meter is closed). A packet the kernel refuses is lost media, not a reason to stop.
   */
  stream(plan: StreamPlan): Promise<void> {
    const tag = stamp(plan.tag);
    return new Promise((resolve) => {
      let left = plan.count;
      const stream = {
        timer: setInterval(() => {
          if (left === 0) return stream.finish();
          left -= 1;
          this.sent += 1;
          this.socket.send(this.packet(tag), plan.port, plan.host, (error) => {
            if (!error) return;
            this.sendErrors += 1;
            this.lastSendError = error.message;
          });
        }, plan.intervalMs),
        finish: () => {
          clearInterval(stream.timer);
          this.streams.delete(stream);
          resolve();
        },
      };
      this.streams.add(stream);
    });
  }

  close(): void {
    for (const stream of [...this.streams]) stream.finish();
    this.socket.close();
  }

  private packet(tag: Buffer): Buffer {
    const packet = Buffer.alloc(RTP_HEADER_BYTES + SAMPLES_PER_PACKET, PCMU_SILENCE);
    packet[0] = 0x80;
    packet[1] = PCMU_PAYLOAD_TYPE;
    packet.writeUInt16BE(this.sequence, 2);
    packet.writeUInt32BE(this.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    tag.copy(packet, RTP_HEADER_BYTES);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + SAMPLES_PER_PACKET) >>> 0;
    return packet;
  }

  private count(packet: Buffer, source: string): void {
    const expected = this.expected;
    const isRtp = packet.length >= RTP_HEADER_BYTES + TAG_BYTES && packet[0] >> 6 === 2;
    if (
      !expected ||
      !isRtp ||
      !packet.subarray(RTP_HEADER_BYTES, RTP_HEADER_BYTES + TAG_BYTES).equals(expected)
    ) {
      this.foreign += 1;
      return;
    }
    this.received += 1;
    if (!this.sources.includes(source)) this.sources.push(source);
  }
}

function stamp(tag: string): Buffer {
  const buffer = Buffer.alloc(TAG_BYTES, 0);
  buffer.write(tag.slice(0, TAG_BYTES), 'ascii');
  return buffer;
}
