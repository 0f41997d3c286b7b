import assert from 'node:assert/strict';
import {
  parseMessage,
  parseNameAddr,
  parseUri,
  SipParseError,
  SipRequest,
  SipResponse,
  unescapeUri,
  unquote,
  type AnySipMessage,
} from '../../../src/sipserver/message';
import {
  messageFiles,
  readFixture,
  rfc3665,
  rfc4475,
  rfc5118,
  sha256,
  type Rfc4475Entry,
  type Rfc5118Entry,
} from './corpus-files';

type Expectation =
  | { accept: true }
  | {
      accept: false;
      status: number;
      /** A request whose start line could be read: a partial comes with the error. */
      reply: boolean;
    };

const ACCEPT: Expectation = { accept: true };

/**
 * Where a manifest leaves the handling to the implementation ("may reject ... or liberally
 * accept"), the choice made, checked against the manifest's own wording so that it stays one
 * the RFC allows.
 */
const CHOICES: Record<string, { expectation: Expectation; manifestAllows: RegExp; why: string }> = {
  'rfc4475/lwsstart.dat': {
    expectation: ACCEPT,
    manifestAllows: /liberally accept/,
    why: 'runs of SP in the start line are tolerated; serialising writes single SPs',
  },
  'rfc4475/trws.dat': {
    expectation: ACCEPT,
    manifestAllows: /liberally accept/,
    why: 'trailing SP after the version is tolerated and not serialised',
  },
  'rfc4475/baddate.dat': {
    expectation: ACCEPT,
    manifestAllows: /ignore/,
    why: 'the SIP layer does not interpret Date',
  },
  'rfc4475/unkscm.dat': {
    expectation: { accept: false, status: 416, reply: true },
    manifestAllows: /416/,
    why: 'the parser answers for the element: the Request-URI scheme is not sip, sips or tel',
  },
  'rfc4475/novelsc.dat': {
    expectation: { accept: false, status: 416, reply: true },
    manifestAllows: /416/,
    why: 'soap.beep is never accepted here',
  },
  'rfc4475/test.dat': {
    expectation: { accept: false, status: 400, reply: false },
    manifestAllows: /garbage/,
    why: 'no SIP-Version in the start line: nothing to build a reply from',
  },
  'rfc5118/ipv6-bug-abnf-3-colons.dat': {
    expectation: { accept: false, status: 400, reply: true },
    manifestAllows: /rejecting with 400/,
    why: 'three colons is not an IPv6 address (RFC 5954 fixed the ABNF)',
  },
  'rfc5118/via-received-param-with-delim.dat': {
    expectation: ACCEPT,
    manifestAllows: /must still parse/,
    why: 'received=[v6] is kept as sent',
  },
};

/** What the reason of each rejection must mention, so that it names the actual fault. */
const REASONS: Record<string, RegExp> = {
  'rfc4475/badinv01.dat': /empty parameter/,
  'rfc4475/clerr.dat': /Content-Length 9999 exceeds/,
  'rfc4475/ncl.dat': /invalid Content-Length: -999/,
  'rfc4475/scalar02.dat': /CSeq number too large/,
  'rfc4475/scalarlg.dat': /CSeq number too large/,
  'rfc4475/quotbal.dat': /unterminated quoted display name/,
  'rfc4475/ltgtruri.dat': /malformed Request-URI/,
  'rfc4475/lwsruri.dat': /malformed Request-URI/,
  'rfc4475/escruri.dat': /headers in Request-URI/,
  'rfc4475/regbadct.dat': /invalid Contact: URI with '\?'/,
  'rfc4475/badaspec.dat': /invalid To: whitespace/,
  'rfc4475/baddn.dat': /invalid From: display name with separators must be quoted/,
  'rfc4475/badvers.dat': /unsupported SIP version: SIP\/7\.0/,
  'rfc4475/mismatch01.dat': /CSeq method INVITE does not match OPTIONS/,
  'rfc4475/mismatch02.dat': /CSeq method INVITE does not match NEWMETHOD/,
  'rfc4475/bigcode.dat': /malformed status line/,
  'rfc4475/insuf.dat': /missing (From|To|Call-ID) header/,
  'rfc4475/unkscm.dat': /unsupported URI scheme: nobodyknowsthisscheme/,
  'rfc4475/novelsc.dat': /unsupported URI scheme: soap\.beep/,
  'rfc4475/multi01.dat': /more than one/,
  'rfc4475/mcl01.dat': /conflicting Content-Length values: 13, 5/,
  'rfc4475/test.dat': /malformed request line/,
  'rfc5118/ipv6-bad.dat': /IPv6 address not enclosed in \[ \]/,
  'rfc5118/ipv6-bug-abnf-3-colons.dat': /invalid IPv6 reference/,
};

function fromManifest(verdict: string, handling: string, isResponse: boolean): Expectation {
  if (/^valid/.test(verdict)) return ACCEPT;
  if (/invalid|malformed/.test(verdict)) {
    const code = /\b([1-6][0-9]{2})\b/.exec(handling);
    return { accept: false, status: code ? Number(code[1]) : 400, reply: !isResponse };
  }
  throw new Error(`no rule for the verdict "${verdict}"`);
}

function expectationFor(key: string, verdict: string, handling: string, message: Buffer): Expectation {
  return (
    CHOICES[key]?.expectation ?? fromManifest(verdict, handling, message.subarray(0, 4).toString() === 'SIP/')
  );
}

/** The header section as text, read without the parser under test. */
function rawHead(raw: Buffer): string {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

/** Which of the headers a reply needs appear in the raw bytes, by long or compact name. */
function replyHeadersIn(raw: Buffer): string[] {
  const names: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id' };
  const found = new Set<string>();
  for (const m of rawHead(raw).matchAll(/^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:/gim)) {
    const name = m[1].toLowerCase();
    found.add(names[name] ?? name);
  }
  return [...found];
}

/** Checks that hold for every accepted message, against values read from the raw bytes. */
function checkInvariants(m: AnySipMessage, raw: Buffer): void {
  const head = rawHead(raw);
  const callId = /^(?:call-id|i)[ \t]*:[ \t]*(\S+)/im.exec(head);
  assert.ok(callId, 'raw message has a Call-ID');
  assert.equal(m.callId, callId[1].trim());
  const cseq = /^cseq[ \t]*:[ \t]*([0-9]+)/im.exec(head);
  assert.ok(cseq, 'raw message has a CSeq');
  assert.equal(m.cseq.seq, Number(cseq[1]));
  if (m instanceof SipRequest) assert.equal(m.cseq.method, m.method);
  assert.equal(m.fromTag, m.from.params.get('tag') ?? null);
  assert.equal(m.toTag, m.to.params.get('tag') ?? null);
  const vias = m.vias;
  assert.ok(vias.length >= 1);
  for (const via of vias) assert.ok(via.host.length > 0);
  assert.deepEqual(m.topVia, vias[0]);
  const contentLength = m.get('content-length');
  if (contentLength !== undefined) assert.equal(m.body.length, Number(contentLength));
  checkRoundTrip(m);
}

/** toBuffer then parseMessage gives back the same start line, headers and body. */
function checkRoundTrip(m: AnySipMessage): void {
  const again = parseMessage(m.toBuffer());
  assert.equal(again.startLine(), m.startLine());
  const withoutLength = (msg: AnySipMessage) =>
    msg.headers.filter((h) => h.key !== 'content-length').map((h) => [h.name, h.value]);
  assert.deepEqual(withoutLength(again), withoutLength(m));
  assert.deepEqual(again.body, m.body);
  assert.equal(again.get('content-length'), String(m.body.length));
}

/** Tokens of a start line, compared without the SP runs the liberal parser drops. */
function normalise(line: string): string {
  return line.split(' ').filter(Boolean).join(' ');
}

function checkRejected(raw: Buffer, key: string, expectation: Exclude<Expectation, { accept: true }>): void {
  let error: unknown;
  try {
    parseMessage(raw);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SipParseError, `expected SipParseError, got ${String(error)}`);
  assert.equal(error.status, expectation.status, error.message);
  const reason = REASONS[key];
  if (reason) assert.match(error.message, reason);
  else assert.ok(error.message.length > 10, 'reason says something');
  if (!expectation.reply) {
    assert.equal(error.partial, undefined);
    return;
  }
  assert.ok(error.partial instanceof SipRequest, 'a partial request comes with the error');
  assert.equal(error.partial.method, rawHead(raw).split(' ')[0]);
  for (const header of replyHeadersIn(raw)) assert.ok(error.partial.has(header), `partial has ${header}`);
}

const get = (m: AnySipMessage, name: string): string => {
  const value = m.get(name);
  assert.ok(value !== undefined, `has ${name}`);
  return value;
};
const request = (m: AnySipMessage): SipRequest => {
  assert.ok(m instanceof SipRequest);
  return m;
};
const response = (m: AnySipMessage): SipResponse => {
  assert.ok(m instanceof SipResponse);
  return m;
};

/** Values checked one by one in the messages that exercise them. */
const DETAILS: Record<string, (m: AnySipMessage, raw: Buffer) => void> = {
  'rfc4475/wsinv.dat': (m) => {
    assert.equal(request(m).uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
    assert.equal(m.toTag, '1918181833n');
    assert.equal(m.to.uri.host, 'chair-dnrc.example.com');
    assert.equal(unquote(m.from.displayName ?? ''), 'J Rosenberg \\"');
    assert.equal(m.fromTag, '98asjd8');
    assert.equal(get(m, 'max-forwards'), '0068');
    assert.deepEqual(m.cseq, { seq: 9, method: 'INVITE' });
    assert.deepEqual(
      m.vias.map((v) => [v.protocol, v.transport, v.host, v.params.get('branch')]),
      [
        ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
        ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.equal(get(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.equal(get(m, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;');
    assert.equal(get(m, 'subject'), '');
    const contact = parseNameAddr(m.getAll('contact')[0]);
    assert.equal(unquote(contact.displayName ?? ''), 'Quoted string ""');
    assert.deepEqual(
      [...contact.params],
      [
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ],
    );
    const route = parseNameAddr(get(m, 'route'));
    assert.equal(route.uri.params.get('lr'), null);
    assert.equal(route.uri.params.get('unknownwith'), 'value');
    assert.equal(m.body.length, 150);
  },
  'rfc4475/intmeth.dat': (m) => {
    assert.equal(request(m).method, "!interesting-Method0123456789_*+`.%indeed'~");
    const uri = parseUri(request(m).uri);
    assert.equal(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(uri.host, 'example.com');
    assert.equal(unquote(m.to.displayName ?? ''), 'BEL:\x07 NUL:\x00 DEL:\x7f');
    assert.equal(m.to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(m.from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(m.from.params.get("fromparam''~+*_!.-%"), '"работающий"');
    assert.equal(m.fromTag, "_token~1'+`*%!-.");
    assert.equal(m.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    assert.equal(get(m, "extensionHeader-!.%*+_`'~"), '大停電');
    assert.equal(m.cseq.seq, 139122385);
  },
  'rfc4475/esc01.dat': (m) => {
    const uri = parseUri(request(m).uri);
    assert.equal(unescapeUri(uri.user ?? ''), 'sips:user@example.com');
    assert.equal(uri.host, 'example.net');
    assert.equal(unescapeUri(m.to.uri.user ?? ''), 'user');
    assert.equal(unescapeUri(m.from.uri.user ?? ''), 'I have spaces');
    const contact = parseNameAddr(get(m, 'contact'));
    assert.equal(unescapeUri(contact.uri.user ?? ''), 'caller');
    const params = [...contact.uri.params].map(([name, value]) => [
      unescapeUri(name),
      value && unescapeUri(value),
    ]);
    assert.deepEqual(params, [
      ['lr', null],
      ['name', 'value%41'],
    ]);
    assert.equal(get(m, 'content-type'), 'application/sdp');
  },
  'rfc4475/escnull.dat': (m) => {
    assert.equal(unescapeUri(m.to.uri.user ?? ''), 'null-\x00-null');
    const users = m.getAll('contact').map((c) => unescapeUri(parseNameAddr(c).uri.user ?? ''));
    assert.deepEqual(users, ['\x00', '\x00\x00']);
  },
  'rfc4475/esc02.dat': (m) => {
    assert.equal(request(m).method, 'RE%47IST%45R');
    assert.equal(m.getAll('contact').length, 2);
    assert.equal(get(m, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
    assert.equal(m.to.displayName, '"%Z%45"');
    assert.equal(m.topVia?.params.get('branch'), 'z9hG4bK209%fzsnel234');
  },
  'rfc4475/lwsdisp.dat': (m) => {
    assert.equal(m.from.displayName, 'caller');
    assert.equal(m.fromTag, '323');
  },
  'rfc4475/longreq.dat': (m, raw) => {
    assert.match(unquote(m.to.displayName ?? ''), /^I have a user name of (extreme){10} proportion$/);
    assert.equal(m.to.uri.port, 6000);
    const viaLines = rawHead(raw).match(/^(via|v)[ \t]*:/gim) ?? [];
    assert.equal(m.vias.length, viaLines.length);
    assert.equal(m.vias.length, 34);
    assert.equal(m.vias[33].params.get('received'), '192.0.2.5');
    assert.match(m.callId, /^longreq\.one(really){20}longcallid$/);
    assert.equal(parseNameAddr(get(m, 'contact')).uri.user, 'amazinglylongcallername'.repeat(5));
  },
  'rfc4475/dblreq.dat': (m) => {
    assert.equal(request(m).method, 'REGISTER');
    assert.equal(m.body.length, 0);
    assert.equal(m.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  },
  'rfc4475/semiuri.dat': (m) => {
    const uri = parseUri(request(m).uri);
    assert.equal(uri.user, 'user;par=u%40example.net');
    assert.equal(uri.host, 'example.com');
    assert.equal(uri.params.size, 0);
    assert.deepEqual(m.getAll('accept'), [
      'application/sdp',
      'application/pkcs7-mime',
      'multipart/mixed',
      'multipart/signed',
      'message/sip',
      'message/sipfrag',
    ]);
  },
  'rfc4475/transports.dat': (m) => {
    assert.deepEqual(
      m.vias.map((v) => v.transport),
      ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
    );
    assert.equal(m.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  },
  'rfc4475/mpart01.dat': (m) => {
    assert.equal(m.body.length, 553);
    assert.ok(m.body.includes(0x00), 'binary body kept');
    assert.equal(m.topVia?.host, '127.0.0.1');
    assert.equal(m.topVia?.port, 5070);
    assert.equal(m.topVia?.params.get('rport'), null);
    assert.ok(m.topVia?.params.has('rport'));
  },
  'rfc4475/unreason.dat': (m) => {
    const first = rfc4475().find((e) => e.file === 'unreason.dat')?.first_line ?? '';
    assert.equal(response(m).status, 200);
    assert.equal(response(m).reason, first.slice('SIP/2.0 200 '.length));
    assert.match(response(m).reason, /простое$/);
  },
  'rfc4475/noreason.dat': (m) => {
    assert.equal(response(m).status, 100);
    assert.equal(response(m).reason, '');
  },
  'rfc4475/lwsstart.dat': (m) => assert.equal(m.startLine(), 'INVITE sip:user@example.com SIP/2.0'),
  'rfc4475/trws.dat': (m) => assert.equal(m.startLine(), 'OPTIONS sip:remote-target@example.com SIP/2.0'),
  'rfc4475/baddate.dat': (m) => assert.equal(get(m, 'date'), 'Fri, 01 Jan 2010 16:00:00 EST'),
  'rfc4475/badbranch.dat': (m) => assert.equal(m.topVia?.params.get('branch'), 'z9hG4bK'),
  'rfc4475/unksm2.dat': (m) => {
    assert.equal(m.to.uri.scheme, 'isbn');
    assert.equal(m.to.uri.opaque, '2983792873');
    assert.equal(m.from.uri.scheme, 'http');
    assert.equal(m.fromTag, '3234233');
    assert.equal(parseNameAddr(get(m, 'contact')).uri.scheme, 'name');
  },
  'rfc4475/bext01.dat': (m) => {
    assert.deepEqual(m.getAll('require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
    assert.deepEqual(m.getAll('proxy-require'), ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
  },
  'rfc4475/invut.dat': (m) => {
    assert.equal(get(m, 'content-type'), 'application/unknownformat');
    assert.equal(m.body.length, 40);
  },
  'rfc4475/regaut01.dat': (m) =>
    assert.equal(get(m, 'authorization'), 'NoOneKnowsThisScheme opaque-data=here'),
  'rfc4475/bcast.dat': (m) => assert.equal(m.vias[1].host, '255.255.255.255'),
  'rfc4475/zeromf.dat': (m) => assert.equal(get(m, 'max-forwards'), '0'),
  'rfc4475/cparam01.dat': (m) => {
    const contact = parseNameAddr(get(m, 'contact'));
    assert.ok(contact.params.has('unknownparam'));
    assert.ok(!contact.uri.params.has('unknownparam'));
    assert.equal(contact.uri.user, '+19725552222');
  },
  'rfc4475/cparam02.dat': (m) => {
    const contact = parseNameAddr(get(m, 'contact'));
    assert.ok(contact.uri.params.has('unknownparam'));
    assert.equal(contact.params.size, 0);
  },
  'rfc4475/regescrt.dat': (m) => {
    const contact = parseNameAddr(get(m, 'contact'));
    assert.equal(contact.uri.headers, 'Route=%3Csip:sip.example.com%3E');
    assert.equal(unescapeUri(contact.uri.headers ?? ''), 'Route=<sip:sip.example.com>');
  },
  'rfc4475/sdp01.dat': (m) => assert.deepEqual(m.getAll('accept'), ['text/nobodyKnowsThis']),
  'rfc4475/inv2543.dat': (m, raw) => {
    assert.equal(m.get('content-length'), undefined);
    const bodyStart = raw.indexOf('\r\n\r\n') + 4;
    assert.deepEqual(m.body, raw.subarray(bodyStart));
    assert.equal(m.topVia?.params.get('branch'), undefined);
    assert.equal(m.topVia?.port, null);
    assert.equal(m.fromTag, null);
  },
  'rfc5118/ipv6-good': (m) => {
    const uri = parseUri(request(m).uri);
    assert.equal(uri.host, '2001:db8::10');
    assert.equal(uri.port, null);
    assert.equal(m.topVia?.host, '2001:db8::9:1');
    assert.equal(parseNameAddr(get(m, 'contact')).uri.host, '2001:db8::1');
  },
  'rfc5118/port-ambiguous': (m) => {
    const uri = parseUri(request(m).uri);
    assert.equal(uri.host, '2001:db8::10:5070');
    assert.equal(uri.port, null);
  },
  'rfc5118/port-unambiguous': (m) => {
    const uri = parseUri(request(m).uri);
    assert.equal(uri.host, '2001:db8::10');
    assert.equal(uri.port, 5070);
  },
  'rfc5118/via-received-param-no-delim': (m) => {
    assert.equal(m.topVia?.params.get('received'), '2001:db8::9:255');
    assert.equal(m.topVia?.params.get('branch'), 'z9hG4bKas3');
  },
  'rfc5118/via-received-param-with-delim': (m) => {
    assert.equal(m.topVia?.host, '2001:db8::9:1');
    assert.equal(m.topVia?.params.get('received'), '[2001:db8::9:255]');
  },
  'rfc5118/ipv6-in-sdp': (m) => {
    assert.equal(parseUri(request(m).uri).host, '2001:db8::10');
    assert.equal(m.to.uri.host, '2001:db8::10');
    assert.match(m.body.toString(), /^c=IN IP6 2001:db8::20\r?$/m);
  },
  'rfc5118/mult-ip-in-header': (m) => {
    assert.deepEqual(
      m.vias.map((v) => [v.transport, v.host, v.port, v.params.get('received') ?? null]),
      [
        ['UDP', '2001:db8::9:1', 6050, null],
        ['UDP', '192.0.2.1', null, null],
        ['TCP', '2001:db8::9:255', null, '192.0.2.200'],
      ],
    );
  },
  'rfc5118/mult-ip-in-sdp': (m) => {
    assert.match(m.body.toString(), /^c=IN IP4 192\.0\.2\.1\r?$/m);
    assert.match(m.body.toString(), /^c=IN IP6 2001:db8::1\r?$/m);
  },
  'rfc5118/ipv4-mapped-ipv6': (m) => {
    assert.equal(m.topVia?.host, '::ffff:192.0.2.10');
    assert.equal(m.topVia?.port, 19823);
    const contact = parseNameAddr(get(m, 'contact'));
    assert.equal(contact.uri.host, '::ffff:192.0.2.2');
    assert.equal(unquote(contact.displayName ?? ''), 'T. desk phone');
  },
  'rfc5118/ipv6-correct-abnf-2-colons': (m) => {
    assert.equal(parseUri(request(m).uri).host, '2001:db8::192.0.2.1');
    assert.equal(m.to.uri.host, '2001:db8::192.0.2.1');
  },
};

function checkAccepted(raw: Buffer, detailsKey: string): AnySipMessage {
  const m = parseMessage(raw);
  checkInvariants(m, raw);
  DETAILS[detailsKey]?.(m, raw);
  return m;
}

function describeExpectation(e: Expectation): string {
  return e.accept ? 'parses' : `throws ${e.status}${e.reply ? ' with a partial request' : ', no reply'}`;
}

describe('message corpus: RFC 4475 torture tests', () => {
  const entries = rfc4475();

  it('the manifest lists every file of the folder, unchanged (50 messages)', () => {
    assert.deepEqual(entries.map((e) => e.file).sort(), messageFiles('rfc4475'));
    assert.equal(entries.length, 50);
    for (const e of entries) assert.equal(sha256(readFixture(`rfc4475/${e.file}`)), e.sha256, e.file);
  });

  for (const entry of entries) {
    const key = `rfc4475/${entry.file}`;
    const raw = readFixture(key);
    const expectation = expectationFor(key, entry.syntax_verdict, entry.expected_handling, raw);
    it(`${entry.file} (§${entry.rfc_section} ${entry.title}): ${describeExpectation(expectation)}`, () => {
      if (!expectation.accept) return checkRejected(raw, key, expectation);
      const m = checkAccepted(raw, key);
      assert.ok(normalise(m.startLine()).startsWith(normalise(entry.first_line)), m.startLine());
    });
  }
});

describe('message corpus: RFC 5118 IPv6 torture tests', () => {
  const entries = rfc5118();

  it('the manifest lists every file of both folders, unchanged (12 + 12 messages)', () => {
    assert.deepEqual(entries.map((e) => e.file).sort(), messageFiles('rfc5118/wire-crlf'));
    assert.deepEqual(
      entries.map((e) => e.archive_file.replace('archive-lf/', '')).sort(),
      messageFiles('rfc5118/archive-lf'),
    );
    assert.equal(entries.length, 12);
    for (const e of entries) {
      assert.equal(sha256(readFixture(`rfc5118/wire-crlf/${e.file}`)), e.wire_sha256, e.file);
      assert.equal(sha256(readFixture(`rfc5118/${e.archive_file}`)), e.archive_sha256, e.archive_file);
    }
  });

  for (const entry of entries) {
    const key = `rfc5118/${entry.file}`;
    const raw = readFixture(`rfc5118/wire-crlf/${entry.file}`);
    const expectation = expectationFor(key, entry.verdict, entry.expected_handling, raw);
    const detailsKey = `rfc5118/${entry.file.replace(/\.dat$/, '')}`;
    it(`wire-crlf/${entry.file} (§${entry.rfc_section} ${entry.title}): ${describeExpectation(expectation)}`, () => {
      if (!expectation.accept) return checkRejected(raw, key, expectation);
      checkAccepted(raw, detailsKey);
    });

    const archiveRaw = readFixture(`rfc5118/${entry.archive_file}`);
    const archive = archiveExpectation(entry, expectation);
    it(`${entry.archive_file} (bare LF, as published): ${describeExpectation(archive.expectation)}`, () => {
      if (!archive.expectation.accept) {
        checkRejected(archiveRaw, key, archive.expectation);
        if (archive.reason) assert.throws(() => parseMessage(archiveRaw), archive.reason);
        return;
      }
      const m = checkAccepted(archiveRaw, detailsKey);
      const wire = parseMessage(raw);
      const withoutLength = (msg: AnySipMessage) =>
        msg.headers.filter((h) => h.key !== 'content-length').map((h) => [h.name, h.value]);
      assert.deepEqual(withoutLength(m), withoutLength(wire), 'same headers as the CRLF form');
      assert.equal(m.body.toString(), wire.body.toString().replace(/\r\n/g, '\n'));
    });
  }
});

/**
 * The LF archive is the wire form's message except where the manifest says the RFC's bytes are
 * broken: a Content-Length larger than the LF body, or no empty line after the headers.
 */
function archiveExpectation(
  entry: Rfc5118Entry,
  wire: Expectation,
): { expectation: Expectation; reason?: RegExp } {
  if (!wire.accept) return { expectation: wire };
  if (entry.archive_content_length > entry.archive_lf_body_bytes)
    return { expectation: { accept: false, status: 400, reply: true }, reason: /Content-Length .* exceeds/ };
  if (entry.wire_derivation_notes.some((note) => /missing empty line/.test(note)))
    return {
      expectation: { accept: false, status: 400, reply: true },
      reason: /no empty line after the headers/,
    };
  return { expectation: ACCEPT };
}

describe('message corpus: RFC 3665 call-flow examples', () => {
  const entries = rfc3665();

  it('the manifest lists every file of the folder, unchanged (181 messages)', () => {
    assert.deepEqual(entries.map((e) => e.file).sort(), messageFiles('rfc3665'));
    assert.equal(entries.length, 181);
    for (const e of entries) assert.equal(sha256(readFixture(`rfc3665/${e.file}`)), e.sha256, e.file);
  });

  for (const entry of entries) {
    const note = entry.notes.length > 0 ? ` [${entry.notes.join('; ')}]` : '';
    it(`${entry.file}: parses${note}`, () => {
      const raw = readFixture(`rfc3665/${entry.file}`);
      const m = checkAccepted(raw, `rfc3665/${entry.file}`);
      assert.equal(m.startLine(), normalise(entry.start_line));
      assert.equal(m.body.length, entry.body_bytes_crlf);
      if (entry.content_length === null) assert.equal(m.get('content-length'), undefined);
      else assert.equal(m.get('content-length'), String(entry.content_length));
    });
  }
});

describe('message corpus: bookkeeping', () => {
  it('every manifest choice is one the manifest allows', () => {
    const handling = new Map<string, string>();
    for (const e of rfc4475()) handling.set(`rfc4475/${e.file}`, e.expected_handling);
    for (const e of rfc5118()) handling.set(`rfc5118/${e.file}`, e.expected_handling);
    for (const [key, choice] of Object.entries(CHOICES)) {
      const text = handling.get(key);
      assert.ok(text !== undefined, `${key} is in a manifest`);
      assert.match(text, choice.manifestAllows, `${key}: ${choice.why}`);
    }
  });

  it('every rejection has its reason pattern and every value check belongs to an accepted message', () => {
    const cases = [
      ...rfc4475().map((e: Rfc4475Entry) => {
        const key = `rfc4475/${e.file}`;
        return {
          key,
          detailsKey: key,
          expectation: expectationFor(key, e.syntax_verdict, e.expected_handling, readFixture(key)),
        };
      }),
      ...rfc5118().map((e) => {
        const key = `rfc5118/${e.file}`;
        const raw = readFixture(`rfc5118/wire-crlf/${e.file}`);
        return {
          key,
          detailsKey: key.replace(/\.dat$/, ''),
          expectation: expectationFor(key, e.verdict, e.expected_handling, raw),
        };
      }),
    ];
    const missingReasons = cases.filter((c) => !c.expectation.accept && !REASONS[c.key]).map((c) => c.key);
    assert.deepEqual(missingReasons, []);
    const accepted = new Set(cases.filter((c) => c.expectation.accept).map((c) => c.detailsKey));
    assert.deepEqual(
      Object.keys(DETAILS).filter((key) => !accepted.has(key)),
      [],
    );
  });
});
