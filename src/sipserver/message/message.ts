import { canonicalHeaderName, headerKey, isListHeader } from './header-names';
import { parseNameAddr, type NameAddr } from './name-addr';
import { splitTopLevel } from './split';
import { parseVia, type Via } from './via';

export interface Header {
  /** Name as it will be written. */
  name: string;
  /** Lower-case full name (compact forms expanded), for lookup. */
  key: string;
  value: string;
}

export interface CSeq {
  seq: number;
  method: string;
}

const CRLF = '\r\n';

/** Headers and body shared by requests and responses. Header order is preserved. */
export abstract class SipMessage {
  headers: Header[] = [];
  body: Buffer = Buffer.alloc(0);

  abstract startLine(): string;
  abstract readonly isRequest: boolean;

  has(name: string): boolean {
    const key = headerKey(name);
    return this.headers.some((h) => h.key === key);
  }

  /** The first header line's value, unsplit. */
  get(name: string): string | undefined {
    const key = headerKey(name);
    for (const h of this.headers) if (h.key === key) return h.value;
    return undefined;
  }

  /** Every value of a header, list headers split into their elements. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const out: string[] = [];
    for (const h of this.headers) {
      if (h.key !== key) continue;
      if (!isListHeader(key)) out.push(h.value);
      // Empty elements carry nothing: an empty `Supported:` is a list of none.
      else for (const part of splitTopLevel(h.value, ',')) if (part !== '') out.push(part);
    }
    return out;
  }

  /** Replaces every line of the header with a single one, keeping the first one's position. */
  set(name: string, value: string): void {
    const key = headerKey(name);
    const index = this.headers.findIndex((h) => h.key === key);
    const header = { name: canonicalHeaderName(name), key, value };
    if (index < 0) {
      this.headers.push(header);
      return;
    }
    this.headers[index] = header;
    this.headers = this.headers.filter((h, i) => i === index || h.key !== key);
  }

  append(name: string, value: string): void {
    this.headers.push({ name: canonicalHeaderName(name), key: headerKey(name), value });
  }

  prepend(name: string, value: string): void {
    this.headers.unshift({ name: canonicalHeaderName(name), key: headerKey(name), value });
  }

  remove(name: string): void {
    const key = headerKey(name);
    this.headers = this.headers.filter((h) => h.key !== key);
  }

  /** Removes the first element of a list header (the top Via, say). */
  removeFirst(name: string): void {
    const key = headerKey(name);
    const index = this.headers.findIndex((h) => h.key === key);
    if (index < 0) return;
    const parts = splitTopLevel(this.headers[index].value, ',');
    if (parts.length <= 1) this.headers.splice(index, 1);
    else this.headers[index] = { ...this.headers[index], value: parts.slice(1).join(', ') };
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  get cseq(): CSeq {
    // Methods are case-sensitive (RFC 3261 §7.1), so the method is kept as written.
    const [seq = '', method = ''] = (this.get('cseq') ?? '').split(/\s+/, 2);
    return { seq: Number(seq), method };
  }

  get from(): NameAddr {
    return parseNameAddr(this.get('from') ?? '');
  }

  get to(): NameAddr {
    return parseNameAddr(this.get('to') ?? '');
  }

  get fromTag(): string | null {
    return this.from.params.get('tag') ?? null;
  }

  get toTag(): string | null {
    return this.to.params.get('tag') ?? null;
  }

  get vias(): Via[] {
    return this.getAll('via').map(parseVia);
  }

  get topVia(): Via | undefined {
    const first = this.getAll('via')[0];
    return first === undefined ? undefined : parseVia(first);
  }

  /** Serialises with a Content-Length that counts the body's bytes. */
  toBuffer(): Buffer {
    let head = this.startLine() + CRLF;
    for (const h of this.headers) if (h.key !== 'content-length') head += `${h.name}: ${h.value}${CRLF}`;
    head += `Content-Length: ${this.body.length}${CRLF}${CRLF}`;
    const headBuffer = Buffer.from(head, 'utf8');
    return this.body.length === 0 ? headBuffer : Buffer.concat([headBuffer, this.body]);
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }
}

export class SipRequest extends SipMessage {
  readonly isRequest = true;
  constructor(
    public method: string,
    public uri: string,
    public version = 'SIP/2.0',
  ) {
    super();
  }

  startLine(): string {
    return `${this.method} ${this.uri} ${this.version}`;
  }
}

export class SipResponse extends SipMessage {
  readonly isRequest = false;
  constructor(
    public status: number,
    public reason: string,
    public version = 'SIP/2.0',
  ) {
    super();
  }

  startLine(): string {
    return `${this.version} ${this.status} ${this.reason}`;
  }
}

export type AnySipMessage = SipRequest | SipResponse;

export function isRequest(msg: AnySipMessage): msg is SipRequest {
  return msg.isRequest;
}
