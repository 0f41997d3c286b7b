// Keys that identify transactions (RFC 3261 §17.1.3, §17.2.3). Parts are joined with '|', which
// no branch, host, method, Call-ID or (unescaped) SIP URI contains.
import { viaBranch, type SipMessage, type SipRequest, type Via } from '../message';
import { isRfc3261Branch } from './branch';

/**
 * The server transaction a request belongs to, as the method of the transaction (ACK belongs to
 * the INVITE; CANCEL is its own). Pass `method` to look up another method's transaction, e.g.
 * the INVITE a CANCEL refers to (§9.2). Null when the request has no Via to match on.
 */
export function serverTransactionKey(
  request: SipRequest,
  method = transactionMethod(request),
): string | null {
  const via = request.topVia;
  if (via === undefined) return null;
  const branch = viaBranch(via);
  if (isRfc3261Branch(branch)) return `${branch}|${sentBy(via)}|${method}`;
  return rfc2543Key(request, via, method);
}

/** True when a key was built by the RFC 2543 fallback, where the To-tag must be checked too. */
export function isRfc2543Key(key: string): boolean {
  return key.startsWith(RFC2543_PREFIX);
}

/**
 * The To-tag part of RFC 2543 matching, left out of the key because an ACK carries the tag of
 * the response rather than of the INVITE: a request must carry the original request's To-tag,
 * an ACK the one the transaction's final response had.
 */
export function rfc2543ToTagMatches(
  request: SipRequest,
  original: SipRequest,
  finalResponse: SipMessage | null,
): boolean {
  const expected = request.method === 'ACK' && finalResponse ? finalResponse.toTag : original.toTag;
  return request.toTag === expected;
}

/** The client transaction a response belongs to: top Via branch and CSeq method (§17.1.3). */
export function clientTransactionKey(message: SipMessage, method: string): string | null {
  const via = message.topVia;
  const branch = via === undefined ? null : viaBranch(via);
  return branch === null ? null : `${branch}|${method}`;
}

/** The INVITE's Call-ID, CSeq number and From-tag: shared by its ACK for a 2xx, whatever its branch. */
export function inviteDialogKey(message: SipMessage): string {
  return `${message.callId}|${message.cseq.seq}|${message.fromTag ?? ''}`;
}

function transactionMethod(request: SipRequest): string {
  return request.method === 'ACK' ? 'INVITE' : request.method;
}

function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

const RFC2543_PREFIX = 'rfc2543|';

/** RFC 3261 §17.2.3 fallback for branches without the magic cookie; the To-tag is checked apart. */
function rfc2543Key(request: SipRequest, via: Via, method: string): string {
  return [
    RFC2543_PREFIX + request.uri,
    request.fromTag ?? '',
    request.callId,
    request.cseq.seq,
    `${via.transport} ${sentBy(via)};branch=${viaBranch(via) ?? ''}`,
    method,
  ].join('|');
}
