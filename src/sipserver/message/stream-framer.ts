import { findHeaderEnd } from './parser';

export type FramerEvent =
  { kind: 'message'; data: Buffer } | { kind: 'keepalive' } | { kind: 'error'; reason: string };

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

  push(chunk: Buffer): FramerEvent[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const events: FramerEvent[] = [];
    for (;;) {
      let offset = 0;
      while (this.pending[offset] === 0x0d && this.pending[offset + 1] === 0x0a) {
        // A double CRLF is a ping; a lone CRLF is the pong or separator, read and ignored.
        if (this.pending[offset + 2] === 0x0d && this.pending[offset + 3] === 0x0a) {
          events.push({ kind: 'keepalive' });
          offset += 4;
        } else {
          offset += 2;
        }
      }
      if (offset > 0) this.pending = this.pending.subarray(offset);
      if (this.pending.length === 0) break;
      if (this.pending.length === 1 && this.pending[0] === 0x0d) break;
      const headerEnd = findHeaderEnd(this.pending);
      if (headerEnd < 0) {
        if (this.pending.length > this.maxMessageSize)
          return this.fail(events, 'header section exceeds the maximum message size');
        break;
      }
      const length = contentLength(this.pending.toString('latin1', 0, headerEnd));
      if (length === null)
        return this.fail(events, 'missing or invalid Content-Length on a stream transport');
      const total = headerEnd + 4 + length;
      if (total > this.maxMessageSize)
        return this.fail(events, `message of ${total} bytes exceeds the maximum of ${this.maxMessageSize}`);
      if (this.pending.length < total) break;
      events.push({ kind: 'message', data: this.pending.subarray(0, total) });
      this.pending = this.pending.subarray(total);
    }
    return events;
  }

  private fail(events: FramerEvent[], reason: string): FramerEvent[] {
    this.pending = Buffer.alloc(0);
    events.push({ kind: 'error', reason });
    return events;
  }
}

function contentLength(head: string): number | null {
  const m = /\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*(?=\r\n|$)/i.exec(head);
  if (!m || m[1].length > 10) return null;
  return Number(m[1]);
}
