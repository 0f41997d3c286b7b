import type { AnySipMessage } from '../message';
import { SipRequest } from '../message';

/** Methods counted under their own name; anything else is `OTHER`, so a scanner cannot grow the table. */
const KNOWN_METHODS = new Set([
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'REGISTER',
  'OPTIONS',
  'PRACK',
  'UPDATE',
  'INFO',
  'REFER',
  'NOTIFY',
  'SUBSCRIBE',
  'MESSAGE',
  'PUBLISH',
]);

const SPACE = 0x20;
const STATUS_LINE_PREFIX = Buffer.from('SIP/2.0 ');
const CSEQ_HEADER = Buffer.from('\r\nCSeq: ');

/** Counts of SIP messages seen on the wire, keyed `METHOD` for requests and `METHOD STATUS` for responses. */
export interface MessageCounts {
  requests: Map<string, number>;
  responses: Map<string, number>;
}

/**
 * Message counts in each direction, retransmissions included (they are what the network carried).
 * Outbound messages are counted from their bytes, read only as far as the start line and CSeq.
 */
export class MessageTally {
  readonly received: MessageCounts = { requests: new Map(), responses: new Map() };
  readonly sent: MessageCounts = { requests: new Map(), responses: new Map() };

  countReceived(message: AnySipMessage): void {
    if (message instanceof SipRequest) bump(this.received.requests, methodLabel(message.method));
    else bump(this.received.responses, `${methodLabel(message.cseq.method)} ${message.status}`);
  }

  countSent(data: Buffer): void {
    if (data.subarray(0, STATUS_LINE_PREFIX.length).equals(STATUS_LINE_PREFIX)) {
      const status = data.toString('latin1', 8, 11);
      bump(this.sent.responses, `${methodLabel(cseqMethod(data))} ${status}`);
      return;
    }
    const end = data.indexOf(SPACE);
    if (end <= 0 || end > 16) return;
    bump(this.sent.requests, methodLabel(data.toString('latin1', 0, end)));
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

function cseqMethod(data: Buffer): string {
  const header = data.indexOf(CSEQ_HEADER);
  if (header < 0) return 'OTHER';
  const lineEnd = data.indexOf(0x0d, header + CSEQ_HEADER.length);
  const value = data.toString('latin1', header + CSEQ_HEADER.length, lineEnd < 0 ? undefined : lineEnd);
  const space = value.lastIndexOf(' ');
  return space < 0 ? 'OTHER' : value.slice(space + 1).trim();
}
