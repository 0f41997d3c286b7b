import { headerKey, canonicalHeaderName } from './header-names';
import { SipRequest, SipResponse, type AnySipMessage, type Header } from './message';
import { parseNameAddr } from './name-addr';
import { parseUri } from './uri';
import { parseVia } from './via';

/** Why a message was refused, and the reply it deserves when one can be sent. */
export class SipParseError extends Error {
  constructor(
    message: string,
    /** 400 for most errors, 505 for a bad version, 416 for an unsupported URI scheme. */
    public readonly status: number = 400,
    /** What could be read of the request: enough to send a response when it has Via/From/To/Call-ID/CSeq. */
    public readonly partial?: SipRequest,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  /** Stream transports: the buffer holds exactly one message, framed by Content-Length. */
  stream?: boolean;
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const REQUIRED_HEADERS = ['via', 'from', 'to', 'call-id', 'cseq'] as const;
const MAX_CSEQ = 2 ** 31 - 1;

/** Index of the blank line ending the header section, or -1. */
export function findHeaderEnd(buffer: Buffer, from = 0): number {
  return buffer.indexOf('\r\n\r\n', from, 'latin1');
}

/**
 * Parses one SIP message (RFC 3261 §7) from a Buffer. Header values keep their bytes (UTF-8);
 * folded lines are joined; the body is exactly Content-Length bytes. Throws SipParseError.
 */
export function parseMessage(buffer: Buffer, options: ParseOptions = {}): AnySipMessage {
  let start = 0;
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  while (buffer[start] === 0x0d && buffer[start + 1] === 0x0a) start += 2;
  const headerEnd = findHeaderEnd(buffer, start);
  if (headerEnd < 0) throw new SipParseError('no blank line after the headers');
  const headText = buffer.toString('utf8', start, headerEnd);
  const lines = unfold(headText.split('\r\n'));
  const message = parseStartLine(lines[0]);
  const headers: Header[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trimEnd() : '';
    if (!TOKEN.test(name))
      throw new SipParseError(`malformed header line: ${truncate(line)}`, 400, asPartial(message, headers));
    headers.push({ name, key: headerKey(name), value: line.slice(colon + 1).trim() });
  }
  message.headers = headers;
  const bodyStart = headerEnd + 4;
  message.body = readBody(buffer, bodyStart, message, options);
  validate(message);
  return message;
}

function unfold(rawLines: string[]): string[] {
  const lines: string[] = [];
  for (const line of rawLines) {
    const first = line.charCodeAt(0);
    if ((first === 0x20 || first === 0x09) && lines.length > 1) lines[lines.length - 1] += ' ' + line.trim();
    else lines.push(line);
  }
  return lines;
}

function parseStartLine(line: string): AnySipMessage {
  if (line.startsWith('SIP/')) {
    const m = /^(SIP\/\d+\.\d+) ([0-9]{3}) ?(.*)$/.exec(line);
    if (!m) throw new SipParseError(`malformed status line: ${truncate(line)}`);
    const status = Number(m[2]);
    if (status < 100 || status > 699) throw new SipParseError(`status code out of range: ${m[2]}`);
    return new SipResponse(status, m[3], m[1]);
  }
  const parts = line.split(' ');
  if (parts.length !== 3 || !TOKEN.test(parts[0]) || parts[1] === '')
    throw new SipParseError(`malformed request line: ${truncate(line)}`);
  const [method, uri, version] = parts;
  const request = new SipRequest(method, uri, version);
  if (!/^SIP\/\d+\.\d+$/i.test(version))
    throw new SipParseError(`malformed SIP version: ${version}`, 400, request);
  return request;
}

function readBody(buffer: Buffer, bodyStart: number, message: AnySipMessage, options: ParseOptions): Buffer {
  const available = buffer.length - bodyStart;
  const lengths = message.headers.filter((h) => h.key === 'content-length');
  if (lengths.length === 0) {
    if (options.stream)
      throw new SipParseError('Content-Length is required on stream transports', 400, asPartial(message));
    return available > 0 ? buffer.subarray(bodyStart) : Buffer.alloc(0);
  }
  const text = lengths[0].value;
  if (!/^[0-9]{1,10}$/.test(text) || lengths.some((h) => h.value !== text))
    throw new SipParseError(`invalid Content-Length: ${truncate(text)}`, 400, asPartial(message));
  const length = Number(text);
  if (length > available)
    throw new SipParseError(
      `Content-Length ${length} exceeds the ${available} body bytes received`,
      400,
      asPartial(message),
    );
  // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded.
  return buffer.subarray(bodyStart, bodyStart + length);
}

function validate(message: AnySipMessage): void {
  const partial = asPartial(message);
  for (const key of REQUIRED_HEADERS) {
    if (!message.has(key))
      throw new SipParseError(`missing ${canonicalHeaderName(key)} header`, 400, partial);
  }
  for (const key of ['from', 'to', 'call-id', 'cseq'] as const) {
    if (message.headers.filter((h) => h.key === key).length > 1)
      throw new SipParseError(`more than one ${canonicalHeaderName(key)} header`, 400, partial);
  }
  const cseq = /^([0-9]{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)$/.exec(message.get('cseq') ?? '');
  if (!cseq || Number(cseq[1]) > MAX_CSEQ)
    throw new SipParseError(`invalid CSeq: ${truncate(message.get('cseq') ?? '')}`, 400, partial);
  for (const key of ['from', 'to'] as const) {
    try {
      parseNameAddr(message.get(key) ?? '');
    } catch (err) {
      throw new SipParseError(`invalid ${canonicalHeaderName(key)}: ${(err as Error).message}`, 400, partial);
    }
  }
  try {
    for (const via of message.getAll('via')) parseVia(via);
  } catch (err) {
    throw new SipParseError((err as Error).message, 400, partial);
  }
  if (message instanceof SipRequest) validateRequest(message, cseq[2]);
}

function validateRequest(request: SipRequest, cseqMethod: string): void {
  if (request.version.toUpperCase() !== 'SIP/2.0')
    throw new SipParseError(`unsupported SIP version: ${request.version}`, 505, request);
  if (cseqMethod !== request.method)
    throw new SipParseError(`CSeq method ${cseqMethod} does not match ${request.method}`, 400, request);
  const maxForwards = request.get('max-forwards');
  if (maxForwards !== undefined && !/^[0-9]{1,3}$/.test(maxForwards))
    throw new SipParseError(`invalid Max-Forwards: ${truncate(maxForwards)}`, 400, request);
  const scheme = request.uri.slice(0, Math.max(0, request.uri.indexOf(':'))).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme))
      throw new SipParseError(`malformed Request-URI: ${truncate(request.uri)}`, 400, request);
    throw new SipParseError(`unsupported URI scheme: ${scheme}`, 416, request);
  }
  try {
    parseUri(request.uri);
  } catch (err) {
    throw new SipParseError(`malformed Request-URI: ${(err as Error).message}`, 400, request);
  }
}

function asPartial(message: AnySipMessage, headers?: Header[]): SipRequest | undefined {
  if (!(message instanceof SipRequest)) return undefined;
  if (headers) message.headers = headers;
  return message;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
