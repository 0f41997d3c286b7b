/**
 * Splits the drachtio control stream into frames of `<decimal byte length>#<payload>`.
 * drachtio-server accepts at most five length digits from an app; more, or a non-digit,
 * means the peer is not speaking the protocol and the connection must be dropped.
 */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLengthDigits = 5) {}

  /** Returns whole payloads, or throws FrameError on a malformed length prefix. */
  push(chunk: Buffer): string[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: string[] = [];
    for (;;) {
      const hash = this.pending.indexOf(0x23);
      if (hash < 0) {
        if (this.pending.length > this.maxLengthDigits)
          throw new FrameError('length prefix too long or missing #');
        break;
      }
      if (hash === 0 || hash > this.maxLengthDigits) throw new FrameError('length prefix too long or empty');
      let length = 0;
      for (let i = 0; i < hash; i++) {
        const digit = this.pending[i] - 0x30;
        if (digit < 0 || digit > 9) throw new FrameError('non-digit in length prefix');
        length = length * 10 + digit;
      }
      if (length === 0) throw new FrameError('zero-length frame');
      const end = hash + 1 + length;
      if (this.pending.length < end) break;
      frames.push(this.pending.toString('utf8', hash + 1, end));
      this.pending = this.pending.subarray(end);
    }
    return frames;
  }
}

export class FrameError extends Error {}

/** The length prefix counts UTF-8 bytes; the socket encodes the string once, on write. */
export function encodeFrame(payload: string): string {
  return `${Buffer.byteLength(payload, 'utf8')}#${payload}`;
}
