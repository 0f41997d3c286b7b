/**
 * The RFC 4475 and RFC 5118 torture messages as a running Pinhole must handle them on the wire,
 * derived from the corpus manifests (test/fixtures/rfc4475, rfc5118) the way
 * test/unit/message/corpus.test.ts derives the parser's verdicts, plus what the element's role
 * adds: Pinhole is a registrar and a B2BUA that challenges strangers, never a plain proxy.
 */
import { readFixture, rfc4475, rfc5118 } from '../../unit/message/corpus-files';
import type { WireProtocol } from './wire-client';

export type Handling =
  /** Processed by the app: a final response that is not a parse-layer rejection. */
  | { kind: 'answer'; status?: number }
  /** Refused by the parser with this status (and a Warning naming the fault). */
  | { kind: 'reject'; status: number }
  /** No reply at all: a response to nobody, or a request too broken to answer. */
  | { kind: 'drop' }
  /** TCP: the framing is broken, so the server closes the connection (a reply before it is optional). */
  | { kind: 'close' };

export interface CorpusMessage {
  key: string;
  data: Buffer;
  handling: Handling;
  /** Why the handling differs from the plain manifest rule, when it does. */
  why?: string;
}

interface Choice {
  handling: Handling;
  /** The manifest's own words that allow this handling, so the choice stays one the RFC permits. */
  manifestAllows: RegExp;
  why: string;
}

/** Where the manifest leaves room or names a role-specific answer. */
const CHOICES: Record<string, Choice> = {
  'rfc4475/lwsstart.dat': {
    handling: { kind: 'answer' },
    manifestAllows: /liberally accept/,
    why: 'tolerated',
  },
  'rfc4475/trws.dat': { handling: { kind: 'answer' }, manifestAllows: /liberally accept/, why: 'tolerated' },
  'rfc4475/baddate.dat': { handling: { kind: 'answer' }, manifestAllows: /ignore/, why: 'Date is not read' },
  'rfc4475/unkscm.dat': {
    handling: { kind: 'reject', status: 416 },
    manifestAllows: /416/,
    why: 'no sip URI',
  },
  'rfc4475/novelsc.dat': {
    handling: { kind: 'reject', status: 416 },
    manifestAllows: /416/,
    why: 'no sip URI',
  },
  'rfc4475/test.dat': {
    handling: { kind: 'drop' },
    manifestAllows: /garbage/,
    why: 'no SIP-Version: nothing to build a reply from',
  },
  'rfc4475/insuf.dat': {
    handling: { kind: 'drop' },
    manifestAllows: /must not crash/,
    why: 'without Call-ID, From and To no reply can be addressed',
  },
  'rfc4475/unksm2.dat': {
    handling: { kind: 'answer', status: 400 },
    manifestAllows: /registrar: 400/,
    why: 'the registrar refuses a To that is not a SIP AOR',
  },
  'rfc4475/regaut01.dat': {
    handling: { kind: 'answer', status: 401 },
    manifestAllows: /401 with a known scheme/,
    why: 'an unknown Authorization scheme gets a Digest challenge',
  },
  'rfc4475/zeromf.dat': {
    handling: { kind: 'answer', status: 200 },
    manifestAllows: /endpoint: process normally/,
    why: 'Pinhole answers OPTIONS itself, as an endpoint',
  },
  'rfc5118/ipv6-bug-abnf-3-colons.dat': {
    handling: { kind: 'reject', status: 400 },
    manifestAllows: /rejecting with 400/,
    why: 'three colons is not an IPv6 address',
  },
  'rfc5118/via-received-param-with-delim.dat': {
    handling: { kind: 'answer' },
    manifestAllows: /must still parse/,
    why: 'received=[v6] is kept as sent',
  },
  'rfc4475/bext01.dat': {
    handling: { kind: 'answer', status: 420 },
    manifestAllows: /420 Bad Extension/,
    why: 'an OPTIONS requiring an extension Pinhole lacks (RFC 3261 §8.2.2.3)',
  },
  'rfc4475/esc02.dat': {
    handling: { kind: 'answer', status: 501 },
    manifestAllows: /endpoint 501/,
    why: 'RE%47IST%45R is an unknown method (RFC 3261 §8.2.1)',
  },
  'rfc4475/intmeth.dat': {
    handling: { kind: 'answer', status: 501 },
    manifestAllows: /endpoint 501/,
    why: 'an unknown method with odd token characters (RFC 3261 §8.2.1)',
  },
};

/**
 * Stream framing: RFC 3261 §18.3 makes Content-Length mandatory on TCP and its value the only
 * message boundary, so these are handled differently over TCP.
 */
const OVER_TCP: Record<string, Choice> = {
  'rfc4475/clerr.dat': {
    handling: { kind: 'drop' },
    manifestAllows: /over TCP: wait for data/,
    why: 'the body is still to come',
  },
  'rfc4475/ncl.dat': {
    handling: { kind: 'close' },
    manifestAllows: /TCP close connection/,
    why: 'framing lost',
  },
  'rfc4475/mcl01.dat': {
    handling: { kind: 'close' },
    manifestAllows: /TCP close connection/,
    why: 'framing lost',
  },
  'rfc4475/inv2543.dat': {
    handling: { kind: 'close' },
    manifestAllows: /no Content-Length \(body to end of datagram\)/,
    why: 'no Content-Length: the end of a datagram exists only on UDP',
  },
  'rfc4475/dblreq.dat': {
    handling: { kind: 'close' },
    manifestAllows: /ignore the trailing INVITE-looking octets/,
    why: 'on a stream the trailing octets are the next message, and they are garbage',
  },
};

function fromManifest(verdict: string, handling: string, isResponse: boolean): Handling {
  if (isResponse) return { kind: 'drop' };
  if (/^valid/.test(verdict)) return { kind: 'answer' };
  if (/invalid|malformed/.test(verdict)) {
    const code = /\b([1-6][0-9]{2})\b/.exec(handling);
    return { kind: 'reject', status: code ? Number(code[1]) : 400 };
  }
  throw new Error(`no rule for the verdict "${verdict}"`);
}

function choose(key: string, protocol: WireProtocol, expected: string): Choice | undefined {
  const choice = (protocol === 'tcp' ? OVER_TCP[key] : undefined) ?? CHOICES[key];
  if (choice && !choice.manifestAllows.test(expected))
    throw new Error(`${key}: the manifest ("${expected}") does not allow ${JSON.stringify(choice.handling)}`);
  return choice;
}

/** Every corpus message with the handling expected over `protocol`. */
export function corpusMessages(protocol: WireProtocol): CorpusMessage[] {
  const entries = [
    ...rfc4475().map((e) => ({ key: `rfc4475/${e.file}`, file: `rfc4475/${e.file}`, verdict: e.syntax_verdict, expected: e.expected_handling })),
    ...rfc5118().map((e) => ({ key: `rfc5118/${e.file}`, file: `rfc5118/wire-crlf/${e.file}`, verdict: e.verdict, expected: e.expected_handling })),
  ]; // prettier-ignore
  return entries.map((e) => {
    const data = streamComplete(readFixture(e.file), protocol);
    const choice = choose(e.key, protocol, e.expected);
    const isResponse = data.subarray(0, 4).toString('latin1') === 'SIP/';
    return {
      key: e.key,
      data,
      handling: choice?.handling ?? fromManifest(e.verdict, e.expected, isResponse),
      why: choice?.why,
    };
  });
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * baddn.dat ends after its last header line, without the empty line: a datagram's end closes
 * the header section, a stream's does not (the server rightly waits for more). Over TCP the
 * missing CRLF is added so the message is judged on its content, as over UDP.
 */
function streamComplete(data: Buffer, protocol: WireProtocol): Buffer {
  if (protocol !== 'tcp' || data.includes(HEADER_END)) return data;
  return Buffer.concat([data, Buffer.from('\r\n')]);
}

const BRANCH = /branch=([^;,\s]+)/i;

/**
 * The corpus reuses Via branches across unrelated messages (22 carry z9hG4bKkdjuw). Sent
 * within Timer J of each other, a transaction layer rightly takes the later ones for
 * retransmissions of the first and answers them to its sender. So every repeat gets its branch
 * made unique (a suffix on the value, nothing else changes); first uses stay byte-exact.
 */
export function withUniqueBranches(messages: CorpusMessage[]): CorpusMessage[] {
  const seen = new Map<string, number>();
  return messages.map((m) => {
    const text = m.data.toString('latin1');
    const branch = BRANCH.exec(text);
    if (!branch) return m;
    const count = (seen.get(branch[1]) ?? 0) + 1;
    seen.set(branch[1], count);
    if (count === 1) return m;
    const at = branch.index + branch[0].length;
    const data = Buffer.from(`${text.slice(0, at)}-u${count}${text.slice(at)}`, 'latin1');
    return { ...m, data };
  });
}
