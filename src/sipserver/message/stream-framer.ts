import { findHeaderSectionEnd } from './parser';

export type FramerEvent =
  { kind: 'message'; data: Buffer } | { kind: 'keepalive' } | { kind: 'error'; reason: string };

const CR = 0x0d;
const LF = 0x0a;

/**
 * Cuts a TCP/TLS byte stream into SIP messages by Content-Length (RFC 3261 §18.3) and
 * recognises RFC 5626 §4.4.1 CRLF keepalives between messages.
 */
export class StreamFramer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageSize: number) {}

  /** Bytes received but not yet part of a whole message. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Feeds received bytes. After an `error` event the buffered bytes are dropped: the stream
   * has lost its framing and the caller should close the connection.
   */
  push(chunk: Buffer): FramerEvent[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const events: FramerEvent[] = [];
    for (;;) {
      if (!this.consumeKeepalives(events)) break;
      if (this.pending.length === 0) break;
      const section = findHeaderSectionEnd(this.pending);
      if (!section) {
        if (this.pending.length > this.maxMessageSize)
          return this.fail(events, 'header section exceeds the maximum message size');
        break;
      }
      const length = contentLength(this.pending.toString('latin1', 0, section.end));
      if (length === null)
        return this.fail(events, 'missing or invalid Content-Length on a stream transport');
      const total = section.bodyStart + length;
      if (total > this.maxMessageSize)
        return this.fail(events, `message of ${total} bytes exceeds the maximum of ${this.maxMessageSize}`);
      if (this.pending.length < total) break;
      events.push({ kind: 'message', data: this.pending.subarray(0, total) });
      this.pending = this.pending.subarray(total);
    }
    return events;
  }

  /**
   * Drops the CRLFs before a message: a double CRLF is a ping (reported), a lone CRLF the
   * pong or a separator. Returns false when the bytes so far could still become a ping that
   * was split across reads, so more are needed.
   */
  private consumeKeepalives(events: FramerEvent[]): boolean {
    const p = this.pending;
    let offset = 0;
    let complete = true;
    while (offset < p.length && p[offset] === CR) {
      if (offset + 1 >= p.length) {
        complete = false;
        break;
      }
      if (p[offset + 1] !== LF) break;
      if (p[offset + 2] === CR && p[offset + 3] === LF) {
        events.push({ kind: 'keepalive' });
        offset += 4;
      } else if (offset + 2 >= p.length || (offset + 3 >= p.length && p[offset + 2] === CR)) {
        complete = false;
        break;
      } else {
        offset += 2;
      }
    }
    if (offset > 0) this.pending = p.subarray(offset);
    return complete;
  }

  private fail(events: FramerEvent[], reason: string): FramerEvent[] {
    this.pending = Buffer.alloc(0);
    events.push({ kind: 'error', reason });
    return events;
  }
}

/** Every Content-Length (or `l`) header must agree (RFC 4475 §3.3.9); null when none or they differ. */
function contentLength(head: string): number | null {
  let value: string | null = null;
  for (const m of head.matchAll(/\n(?:content-length|l)[ \t]*:\s*([0-9]+)[ \t]*\r?(?=\n|$)/gi)) {
    if (value !== null && m[1] !== value) return null;
    value = m[1];
  }
  if (value === null || value.length > 10) return null;
  return Number(value);
}
