import { isToken } from './grammar';
import { canonicalHeaderName, headerKey } from './header-names';
import { SipRequest, SipResponse, type AnySipMessage, type Header } from './message';
import { parseNameAddr } from './name-addr';
import { splitTopLevel } from './split';
import { parseUri, uriScheme } from './uri';
import { UriError } from './uri-error';
import { parseVia } from './via';

/** Why a message was refused, and the reply it deserves when one can be sent. */
export class SipParseError extends Error {
  override name = 'SipParseError';
  constructor(
    message: string,
    /** 400 for most errors, 505 for a bad version, 416 for an unsupported URI scheme, 501 for an unknown method. */
    public readonly status: number = 400,
    /**
     * The request as far as it could be read, headers included: a reply is possible when its
     * Via, From, To, Call-ID and CSeq are there. Undefined for responses and unreadable start lines.
     */
    public readonly partial?: SipRequest,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  /** Stream transports: the buffer holds exactly one message, framed by Content-Length. */
  stream?: boolean;
}

const REQUIRED_HEADERS = ['via', 'from', 'to', 'call-id', 'cseq'] as const;
/** Headers that may appear once only (RFC 4475 §3.3.8). */
const SINGLE_HEADERS = ['from', 'to', 'call-id', 'cseq', 'max-forwards'] as const;
const COUNTED_HEADERS = new Set<string>([...REQUIRED_HEADERS, ...SINGLE_HEADERS]);
/** Parsed here so that later layers can read them without meeting a grammar error. */
const PARSED_HEADERS = new Set(['via', 'from', 'to', 'contact', 'route', 'record-route']);
/** RFC 3261 §8.1.1.5: the sequence number must be less than 2**31. */
const MAX_CSEQ = 2 ** 31 - 1;
const MAX_MAX_FORWARDS = 255;
/** Methods of RFC 3261 and its extensions; a CSeq mismatch on any other earns 501 (RFC 4475 §3.1.2.18). */
const KNOWN_METHODS = new Set([
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'INFO',
  'REFER',
  'MESSAGE',
  'UPDATE',
]);

/** Index of the CRLFCRLF ending the header section, or -1 (CRLF line ends only). */
export function findHeaderEnd(buffer: Buffer, from = 0): number {
  return buffer.indexOf('\r\n\r\n', from, 'latin1');
}

export interface HeaderSectionEnd {
  /** Index of the line break that ends the last header line. */
  end: number;
  /** Index of the first body byte. */
  bodyStart: number;
}

/**
 * Finds the empty line that ends the header section, accepting bare LF as well as CRLF line
 * ends (the RFC 5118 archive is LF-only, and tolerant stacks such as sofia-sip accept it).
 */
export function findHeaderSectionEnd(buffer: Buffer, from = 0): HeaderSectionEnd | null {
  let lf = buffer.indexOf(0x0a, from);
  while (lf >= 0) {
    const next = buffer[lf + 1];
    if (next === 0x0a) return { end: lf, bodyStart: lf + 2 };
    if (next === 0x0d && buffer[lf + 2] === 0x0a) return { end: lf, bodyStart: lf + 3 };
    lf = buffer.indexOf(0x0a, lf + 1);
  }
  return null;
}

/**
 * Parses one SIP message (RFC 3261 §7) from a Buffer. Header values keep their bytes (UTF-8);
 * folded lines are joined; the body is exactly Content-Length bytes, or the rest of the
 * datagram when there is no Content-Length (RFC 3261 §18.3). Throws SipParseError only.
 */
export function parseMessage(buffer: Buffer, options: ParseOptions = {}): AnySipMessage {
  const start = skipLeadingLineBreaks(buffer);
  const section = findHeaderSectionEnd(buffer, start);
  const lines = headerLines(buffer.toString('utf8', start, section ? section.end : buffer.length));
  const message = parseStartLine(lines[0]);
  const partial = message instanceof SipRequest ? message : undefined;
  const lineError = readHeaders(lines, message);
  if (message instanceof SipRequest) checkRequestVersion(message);
  if (lineError !== null) throw new SipParseError(lineError, 400, partial);
  validateHeaders(message, partial);
  if (message instanceof SipRequest) validateRequest(message);
  if (!section) throw new SipParseError('no empty line after the headers (truncated message)', 400, partial);
  message.body = readBody(buffer, section.bodyStart, message, options, partial);
  return message;
}

/** RFC 3261 §7.5: line breaks before the start line are ignored. */
function skipLeadingLineBreaks(buffer: Buffer): number {
  let i = 0;
  for (;;) {
    if (buffer[i] === 0x0d && buffer[i + 1] === 0x0a) i += 2;
    else if (buffer[i] === 0x0a) i += 1;
    else return i;
  }
}

/** Splits the header section into lines, joining folded continuation lines with one SP. */
function headerLines(text: string): string[] {
  const raw = text.split('\n');
  const lines: string[] = [];
  for (let line of raw) {
    if (line.charCodeAt(line.length - 1) === 0x0d) line = line.slice(0, -1);
    const first = line.charCodeAt(0);
    // A continuation of the start line is not folding: it stays a line and fails as a header.
    if ((first === 0x20 || first === 0x09) && lines.length > 1) lines[lines.length - 1] += ' ' + line.trim();
    else lines.push(line);
  }
  return lines;
}

/**
 * Runs of SP between the elements and trailing SP are accepted (RFC 4475 §3.1.2.9/10 allow
 * either choice; RFC 3665 prints such lines); serialising writes single SPs, so they are not
 * forwarded.
 */
function parseStartLine(line: string): AnySipMessage {
  if (line.length >= 4 && line.slice(0, 4).toUpperCase() === 'SIP/') return parseStatusLine(line);
  const parts = line.split(' ').filter((part) => part !== '');
  if (parts.length < 3 || !isToken(parts[0]))
    throw new SipParseError(`malformed request line: ${truncate(line)}`);
  // More than three parts: SP inside the Request-URI (RFC 4475 §3.1.2.8). Kept in the URI,
  // which then fails its own check with a partial request, so a 400 can still be sent.
  return new SipRequest(parts[0], parts.slice(1, -1).join(' '), parts[parts.length - 1]);
}

function parseStatusLine(line: string): SipResponse {
  const m = /^(SIP\/[0-9]+\.[0-9]+) +([0-9]{3})(?: +(.*))?$/i.exec(line);
  if (!m) throw new SipParseError(`malformed status line: ${truncate(line)}`);
  if (m[1].toUpperCase() !== 'SIP/2.0') throw new SipParseError(`unsupported SIP version: ${m[1]}`, 505);
  const status = Number(m[2]);
  if (status < 100 || status > 699) throw new SipParseError(`status code out of range: ${m[2]}`);
  // The version token is case-insensitive (RFC 3261 §7.1) but apps' parsers expect it upper case.
  return new SipResponse(status, m[3] ?? '', 'SIP/2.0');
}

/** Sets the message's headers; returns why the first malformed line was refused, or null. */
function readHeaders(lines: string[], message: AnySipMessage): string | null {
  let error: string | null = null;
  const headers: Header[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trimEnd() : '';
    if (!isToken(name)) {
      error ??= `malformed header line: ${truncate(line)}`;
      continue;
    }
    const value = line.slice(colon + 1).trim();
    if (value.includes('\r')) {
      error ??= `bare CR in header ${name}`;
      continue;
    }
    headers.push({ name, key: headerKey(name), value });
  }
  message.headers = headers;
  return error;
}

function checkRequestVersion(request: SipRequest): void {
  if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(request.version))
    throw new SipParseError(`malformed SIP version: ${truncate(request.version)}`, 400, request);
  if (request.version.toUpperCase() !== 'SIP/2.0')
    throw new SipParseError(`unsupported SIP version: ${request.version}`, 505, request);
  // Case-insensitive on the wire (RFC 3261 §7.1); drachtio-srf cannot parse anything but SIP/2.0.
  request.version = 'SIP/2.0';
}

function validateHeaders(message: AnySipMessage, partial: SipRequest | undefined): void {
  // One pass to count the headers that matter and collect the ones to parse: this runs per packet.
  const counts = new Map<string, number>();
  const toParse: Header[] = [];
  for (const h of message.headers) {
    if (COUNTED_HEADERS.has(h.key)) counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
    if (PARSED_HEADERS.has(h.key)) toParse.push(h);
  }
  for (const key of REQUIRED_HEADERS) {
    if (!counts.has(key)) throw new SipParseError(`missing ${canonicalHeaderName(key)} header`, 400, partial);
  }
  for (const key of SINGLE_HEADERS) {
    if ((counts.get(key) ?? 0) > 1)
      throw new SipParseError(`more than one ${canonicalHeaderName(key)} header`, 400, partial);
  }
  const cseq = message.get('cseq') ?? '';
  const m = /^([0-9]+)\s+(\S+)$/.exec(cseq);
  if (!m || !isToken(m[2])) throw new SipParseError(`invalid CSeq: ${truncate(cseq)}`, 400, partial);
  if (Number(m[1]) > MAX_CSEQ)
    throw new SipParseError(`CSeq number too large: ${truncate(m[1])}`, 400, partial);
  const maxForwards = message.get('max-forwards');
  if (maxForwards !== undefined && !(/^[0-9]+$/.test(maxForwards) && Number(maxForwards) <= MAX_MAX_FORWARDS))
    throw new SipParseError(`invalid Max-Forwards: ${truncate(maxForwards)}`, 400, partial);
  for (const h of toParse) {
    // RFC 3261 §10.2.2: "Contact: *" removes every binding.
    if (h.key === 'contact' && h.value === '*') continue;
    const elements = h.key === 'from' || h.key === 'to' ? [h.value] : splitTopLevel(h.value, ',');
    for (const element of elements) {
      try {
        if (h.key === 'via') parseVia(element);
        else parseNameAddr(element);
      } catch (err) {
        throw asParseError(err, `invalid ${canonicalHeaderName(h.key)}: `, partial);
      }
    }
  }
}

/** Grammar errors become 400s; anything else is a bug and is rethrown as it is. */
function asParseError(err: unknown, prefix: string, partial: SipRequest | undefined): unknown {
  return err instanceof UriError ? new SipParseError(prefix + truncate(err.message), 400, partial) : err;
}

function validateRequest(request: SipRequest): void {
  const scheme = uriScheme(request.uri);
  if (scheme === null)
    throw new SipParseError(`malformed Request-URI: ${truncate(request.uri)}`, 400, request);
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel')
    throw new SipParseError(`unsupported URI scheme: ${truncate(scheme)}`, 416, request);
  let headers: string | null;
  try {
    headers = parseUri(request.uri).headers;
  } catch (err) {
    throw asParseError(err, 'malformed Request-URI: ', request);
  }
  // RFC 3261 §19.1.1 (table): headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
  if (headers !== null)
    throw new SipParseError(`headers in Request-URI: ${truncate(request.uri)}`, 400, request);
  const cseqMethod = request.cseq.method;
  if (cseqMethod !== request.method) {
    const status = KNOWN_METHODS.has(request.method) ? 400 : 501;
    throw new SipParseError(`CSeq method ${cseqMethod} does not match ${request.method}`, status, request);
  }
}

function readBody(
  buffer: Buffer,
  bodyStart: number,
  message: AnySipMessage,
  options: ParseOptions,
  partial: SipRequest | undefined,
): Buffer {
  const available = buffer.length - bodyStart;
  let text: string | undefined;
  for (const h of message.headers) {
    if (h.key !== 'content-length') continue;
    if (text !== undefined && h.value !== text)
      throw new SipParseError(
        `conflicting Content-Length values: ${text}, ${truncate(h.value)}`,
        400,
        partial,
      );
    text = h.value;
  }
  if (text === undefined) {
    if (options.stream)
      throw new SipParseError('Content-Length is required on stream transports', 400, partial);
    return available > 0 ? buffer.subarray(bodyStart) : Buffer.alloc(0);
  }
  if (!/^[0-9]{1,10}$/.test(text))
    throw new SipParseError(`invalid Content-Length: ${truncate(text)}`, 400, partial);
  const length = Number(text);
  if (length > available)
    throw new SipParseError(
      `Content-Length ${length} exceeds the ${available} body bytes received`,
      400,
      partial,
    );
  // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded.
  return buffer.subarray(bodyStart, bodyStart + length);
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
