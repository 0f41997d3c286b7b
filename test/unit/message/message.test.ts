import assert from 'node:assert/strict';
import {
  canonicalHeaderName,
  createResponse,
  headerKey,
  parseMessage,
  SipParseError,
  SipRequest,
  SipResponse,
  type AnySipMessage,
} from '../../../src/sipserver/message';

function wire(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');
}

const INVITE_HEAD = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
];

function parseRequest(buffer: Buffer): SipRequest {
  const m = parseMessage(buffer);
  assert.ok(m instanceof SipRequest);
  return m;
}

function parseError(buffer: Buffer): SipParseError {
  try {
    parseMessage(buffer);
  } catch (err) {
    assert.ok(err instanceof SipParseError, String(err));
    return err;
  }
  assert.fail('parsed a message that should have been refused');
}

describe('SIP message headers', () => {
  it('expands compact names (v i m l f t c k) and reads them under either name', () => {
    const m = parseRequest(
      wire(
        [
          'OPTIONS sip:bob@example.com SIP/2.0',
          'v: SIP/2.0/TCP host.example.com;branch=z9hG4bK1',
          'i: compact-call-id',
          'f: <sip:alice@example.com>;tag=f1',
          't: <sip:bob@example.com>',
          'CSeq: 1 OPTIONS',
          'm: <sip:alice@10.0.0.1:5070>',
          'k: path, outbound',
          'c: text/plain',
          'l: 5',
        ],
        'hello',
      ),
    );
    assert.equal(m.callId, 'compact-call-id');
    assert.equal(m.get('Call-ID'), 'compact-call-id');
    assert.equal(m.topVia?.transport, 'TCP');
    assert.equal(m.fromTag, 'f1');
    assert.equal(m.to.uri.user, 'bob');
    assert.equal(m.get('contact'), '<sip:alice@10.0.0.1:5070>');
    assert.deepEqual(m.getAll('supported'), ['path', 'outbound']);
    assert.equal(m.get('content-type'), 'text/plain');
    assert.equal(m.body.toString(), 'hello');
    for (const [compact, full] of [
      ['v', 'Via'],
      ['i', 'Call-ID'],
      ['m', 'Contact'],
      ['l', 'Content-Length'],
      ['f', 'From'],
      ['t', 'To'],
      ['c', 'Content-Type'],
      ['k', 'Supported'],
    ]) {
      assert.equal(headerKey(compact), full.toLowerCase());
      assert.equal(canonicalHeaderName(compact), full);
    }
  });

  it('joins folded lines with one SP', () => {
    const m = parseRequest(
      wire([
        ...INVITE_HEAD,
        'Subject: I know you',
        '  are there,\t',
        '\tpick up!',
        'Route: <sip:p1.example.com;lr>,',
        ' <sip:p2.example.com;lr>',
      ]),
    );
    assert.equal(m.get('subject'), 'I know you are there, pick up!');
    assert.deepEqual(m.getAll('route'), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
  });

  it('getAll splits list headers on commas outside quotes and brackets, across lines', () => {
    const m = parseRequest(
      wire([
        ...INVITE_HEAD.filter((l) => !l.startsWith('Contact')),
        'Contact: "Smith, J <home>" <sip:j@a.example.com;x=1,2>;q=0.5, <sip:j@b.example.com>',
        'Contact: sip:j@c.example.com',
        'Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2, SIP/2.0/UDP p3.example.com;branch=z9hG4bK3',
        'Supported:',
        'Subject: one, two',
      ]),
    );
    assert.deepEqual(m.getAll('contact'), [
      '"Smith, J <home>" <sip:j@a.example.com;x=1,2>;q=0.5',
      '<sip:j@b.example.com>',
      'sip:j@c.example.com',
    ]);
    assert.deepEqual(
      m.vias.map((v) => v.host),
      ['pc33.atlanta.example.com', 'p2.example.com', 'p3.example.com'],
    );
    assert.deepEqual(m.getAll('supported'), []);
    assert.deepEqual(m.getAll('subject'), ['one, two'], 'Subject is not a list');
  });

  it('counts Content-Length in bytes for a UTF-8 body', () => {
    const body = 'héllo ☎';
    assert.equal(Buffer.byteLength(body), 10);
    const m = parseRequest(
      wire([...INVITE_HEAD, 'Content-Type: text/plain;charset=utf-8', 'Content-Length: 10'], body),
    );
    assert.equal(m.body.toString('utf8'), body);
    assert.equal(m.body.length, 10);
    const out = m.toBuffer();
    assert.match(out.toString('utf8'), /\r\nContent-Length: 10\r\n\r\nhéllo ☎$/);
    assert.equal(parseMessage(out).body.toString('utf8'), body);
    assert.equal(parseError(wire([...INVITE_HEAD, 'Content-Length: 11'], body)).status, 400);
  });

  it('keeps UTF-8 header values and writes them back byte for byte', () => {
    const raw = wire([...INVITE_HEAD, 'Subject: Grüße ☎ 大停電', 'Content-Length: 0']);
    const m = parseRequest(raw);
    assert.equal(m.get('subject'), 'Grüße ☎ 大停電');
    assert.deepEqual(m.toBuffer(), raw);
  });

  it('set/append/prepend/remove/removeFirst keep order and canonical names', () => {
    const m = parseRequest(wire([...INVITE_HEAD, 'Via: SIP/2.0/UDP second.example.com;branch=z9hG4bK2']));
    m.removeFirst('via');
    assert.equal(m.topVia?.host, 'second.example.com');
    m.prepend('v', 'SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp');
    assert.equal(m.headers[0].name, 'Via');
    assert.equal(m.topVia?.host, 'proxy.example.com');
    m.set('max-forwards', '69');
    assert.equal(m.get('Max-Forwards'), '69');
    m.append('x-custom', 'a');
    m.append('X-Custom', 'b');
    assert.deepEqual(m.getAll('x-custom'), ['a', 'b']);
    m.remove('x-custom');
    assert.equal(m.has('x-custom'), false);
    assert.equal(m.headers.find((h) => h.key === 'max-forwards')?.name, 'Max-Forwards');
  });
});

describe('SIP message serialisation round trip', () => {
  function assertSame(a: AnySipMessage, b: AnySipMessage): void {
    assert.equal(b.startLine(), a.startLine());
    assert.deepEqual(
      b.headers.filter((h) => h.key !== 'content-length'),
      a.headers.filter((h) => h.key !== 'content-length'),
    );
    assert.deepEqual(b.body, a.body);
    assert.equal(b.callId, a.callId);
    assert.deepEqual(b.cseq, a.cseq);
    assert.deepEqual(b.from, a.from);
    assert.deepEqual(b.to, a.to);
    assert.deepEqual(b.vias, a.vias);
  }

  it('request: toBuffer then parseMessage gives equal values', () => {
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    const m = parseRequest(
      wire([...INVITE_HEAD, 'Content-Type: application/sdp', `Content-Length: ${sdp.length}`], sdp),
    );
    assertSame(m, parseMessage(m.toBuffer()));
  });

  it('a message built in code serialises with a correct Content-Length', () => {
    const req = new SipRequest('MESSAGE', 'sip:[2001:db8::5]:5062;transport=tcp');
    req.append('Via', 'SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKm;rport');
    req.append('From', '"Ann \\"A\\"" <sip:ann@example.com>;tag=ab');
    req.append('To', '<sip:bob@example.com>');
    req.append('Call-ID', 'c1@example.com');
    req.append('CSeq', '2 MESSAGE');
    req.append('Content-Length', '999');
    req.body = Buffer.from('héllo ☎');
    const text = req.toString();
    assert.equal((text.match(/Content-Length/g) ?? []).length, 1);
    const back = parseMessage(req.toBuffer(), { stream: true });
    assertSame(req, back);
    assert.equal(back.get('content-length'), '10');
  });

  it('response from createResponse: copies Via/From/To/Call-ID/CSeq and round-trips', () => {
    const req = parseRequest(wire(INVITE_HEAD));
    const res = createResponse(req, 180);
    assert.equal(res.reason, 'Ringing');
    res.set('To', `${req.get('to')};tag=as8d7`);
    const back = parseMessage(res.toBuffer());
    assert.ok(back instanceof SipResponse);
    assert.equal(back.status, 180);
    assert.equal(back.toTag, 'as8d7');
    assertSame(res, back);
  });
});

describe('SIP start lines and SipParseError', () => {
  it('ignores CRLFs before the start line and bytes after Content-Length', () => {
    const m = parseRequest(
      Buffer.concat([Buffer.from('\r\n\r\n'), wire([...INVITE_HEAD, 'l: 2'], 'hiEXTRA')]),
    );
    assert.equal(m.body.toString(), 'hi');
  });

  it('accepts bare LF line ends', () => {
    const m = parseRequest(Buffer.from([...INVITE_HEAD, 'Content-Length: 3'].join('\n') + '\n\nabc'));
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(m.body.toString(), 'abc');
  });

  it('a request with a bad header line still yields a partial with the headers after it', () => {
    const err = parseError(
      wire([INVITE_HEAD[0], INVITE_HEAD[1], 'Broken header line', ...INVITE_HEAD.slice(2)]),
    );
    assert.equal(err.status, 400);
    assert.match(err.message, /malformed header line: Broken header line/);
    assert.equal(err.partial?.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.equal(err.partial?.cseq.seq, 314159);
  });

  const refused: Array<[string, Buffer, number, RegExp, boolean]> = [
    ['no empty line', Buffer.from(INVITE_HEAD.join('\r\n')), 400, /no empty line/, true],
    [
      'bad version',
      wire([INVITE_HEAD[0].replace('2.0', '3.0'), ...INVITE_HEAD.slice(1)]),
      505,
      /version/,
      true,
    ],
    [
      'garbage version',
      wire([INVITE_HEAD[0].replace('SIP/2.0', 'HTTP/1.1'), ...INVITE_HEAD.slice(1)]),
      400,
      /version/,
      true,
    ],
    [
      'unknown scheme',
      wire([INVITE_HEAD[0].replace('sip:', 'im:'), ...INVITE_HEAD.slice(1)]),
      416,
      /scheme/,
      true,
    ],
    ['missing Via', wire(INVITE_HEAD.filter((l) => !l.startsWith('Via'))), 400, /missing Via/, true],
    [
      'Max-Forwards 256',
      wire([...INVITE_HEAD, 'Max-Forwards: 256'].filter((l) => l !== 'Max-Forwards: 70')),
      400,
      /Max-Forwards/,
      true,
    ],
    ['status 700', wire(['SIP/2.0 700 Nope', ...INVITE_HEAD.slice(1)]), 400, /status code/, false],
    ['response version', wire(['SIP/3.0 200 OK', ...INVITE_HEAD.slice(1)]), 505, /version/, false],
    ['empty buffer', Buffer.alloc(0), 400, /request line/, false],
  ];
  for (const [name, buffer, status, reason, partial] of refused) {
    it(`refuses ${name} with ${status}`, () => {
      const err = parseError(buffer);
      assert.equal(err.status, status);
      assert.match(err.message, reason);
      assert.equal(err.partial !== undefined, partial);
      assert.equal(err.name, 'SipParseError');
    });
  }

  it('the stream option demands Content-Length', () => {
    assert.throws(
      () => parseMessage(wire(INVITE_HEAD), { stream: true }),
      (err: unknown) =>
        err instanceof SipParseError && /Content-Length is required/.test(err.message) && !!err.partial,
    );
    assert.equal(parseMessage(wire([...INVITE_HEAD, 'Content-Length: 0']), { stream: true }).body.length, 0);
  });
});
