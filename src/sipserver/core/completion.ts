import type { Header, SipMessage } from '../message';
import { formatHost } from '../message';
import { randomHex } from '../message/random';
import type { ListeningPoint } from '../transport/types';

/**
 * Headers the server owns in responses and in requests it builds inside a dialog: the app's
 * copies are ignored (drachtio's immutable set plus the dialog identifiers).
 */
export const SERVER_OWNED_HEADERS = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'content-length',
  'record-route',
  'route',
  'rseq',
]);

/** Headers the server owns in new requests: From/To/Call-ID/CSeq come from the app when given. */
export const SERVER_OWNED_IN_NEW_REQUEST = new Set(['via', 'content-length', 'record-route', 'rseq']);

export function copyAppHeaders(from: Header[], to: SipMessage, owned: Set<string>): void {
  for (const h of from) if (!owned.has(h.key)) to.headers.push({ ...h });
}

export function hostPort(point: ListeningPoint, advertise?: string): string {
  const host = advertise ?? point.address;
  return `${formatHost(host)}:${point.port}`;
}

/** `sip:host:port;transport=x` for our own Contact (transport omitted for UDP). */
export function contactUri(point: ListeningPoint, advertise?: string, user?: string): string {
  const scheme = point.protocol === 'tls' || point.protocol === 'wss' ? 'sips' : 'sip';
  const userPart = user ? `${user}@` : '';
  return `${scheme}:${userPart}${hostPort(point, advertise)}${transportSuffix(point)}`;
}

/**
 * drachtio apps write `localhost` where the server's own address belongs (From, To, Contact,
 * P-Asserted-Identity): it becomes the chosen transport's host:port.
 */
export function replaceLocalhost(value: string, hostport: string): string {
  return value.replace(/([:@])localhost(?=[>;:?\s]|$)(:[0-9]+)?/g, `$1${hostport}`);
}

/** `contactSuffix` (a `;transport=` parameter) goes into Contact URIs only. */
export function fixLocalhostHeaders(message: SipMessage, hostport: string, contactSuffix = ''): void {
  for (const h of message.headers) {
    if (h.key === 'contact') h.value = replaceLocalhost(h.value, hostport + contactSuffix);
    else if (h.key === 'from' || h.key === 'to' || h.key === 'p-asserted-identity')
      h.value = replaceLocalhost(h.value, hostport);
  }
}

export function transportSuffix(point: ListeningPoint): string {
  return point.protocol === 'udp' ? '' : `;transport=${point.protocol === 'tls' ? 'tcp' : point.protocol}`;
}

/** Content-Type defaults to application/sdp for a body starting with `v=0`; other bodies need one. */
export function ensureContentType(message: SipMessage): string | null {
  if (message.body.length === 0 || message.has('content-type')) return null;
  if (message.body.subarray(0, 3).toString('latin1') === 'v=0') {
    message.set('Content-Type', 'application/sdp');
    return null;
  }
  return 'a body without Content-Type';
}

export function randomTag(): string {
  return randomHex(8);
}

export function randomCallId(): string {
  return randomHex(16);
}

export function withTag(partyValue: string, tag: string): string {
  return /;\s*tag=/i.test(partyValue) ? partyValue : `${partyValue};tag=${tag}`;
}

/** `<uri>` form, so that URI parameters stay with the URI once a tag is appended. */
export function asNameAddr(value: string): string {
  return value.includes('<') ? value : `<${value}>`;
}
