import assert from 'node:assert/strict';
import { encodeFrame, FrameDecoder, FrameError } from '../../../src/sipserver/wire/frame-decoder';
import { parseSkeleton, SkeletonError } from '../../../src/sipserver/wire/skeleton';

describe('drachtio wire framing', () => {
  it('counts UTF-8 bytes in the length prefix', () => {
    const frame = Buffer.from(encodeFrame('id|sip||\r\nMESSAGE sip:a@b SIP/2.0\r\n\r\nhé☎'), 'utf8');
    const text = frame.toString('latin1');
    const length = Number(text.slice(0, text.indexOf('#')));
    assert.equal(length, frame.length - text.indexOf('#') - 1);
  });

  it('splits several frames in one chunk and a frame split byte by byte', () => {
    const decoder = new FrameDecoder();
    const payloads = ['a|ping', 'b|route|invite', 'c|sip||\r\nOPTIONS sip:x SIP/2.0\r\n\r\n☎'];
    const all = Buffer.from(payloads.map(encodeFrame).join(''), 'utf8');
    assert.deepEqual(decoder.push(all), payloads);
    const got: string[] = [];
    for (const byte of all) got.push(...decoder.push(Buffer.from([byte])));
    assert.deepEqual(got, payloads);
  });

  const malformed: [string, string][] = [
    ['a non-digit length', 'x1#a'],
    ['a six-digit length', '123456#'],
    ['an empty length', '#abc'],
    ['a zero length', '0#'],
    ['no # within five bytes', 'abcdefgh'],
  ];
  for (const [what, input] of malformed) {
    it(`refuses ${what}`, () => {
      assert.throws(() => new FrameDecoder().push(Buffer.from(input)), FrameError);
    });
  }
});

describe('app message skeletons', () => {
  it('reads a response skeleton with a body and no Content-Type', () => {
    const msg = parseSkeleton(
      'SIP/2.0 200 OK\r\nCall-ID: x\r\ncseq: 1 INVITE\r\nContent-Length: 5\r\n\r\nv=0\r\n',
    );
    assert.equal(msg.isRequest, false);
    assert.equal(msg.get('CSeq'), '1 INVITE');
    assert.equal(msg.body.toString(), 'v=0\r\n');
  });

  it('keeps the case of X- headers and capitalises others', () => {
    const msg = parseSkeleton(
      'INFO sip:placeholder SIP/2.0\r\nx-My-Header: 1\r\np-asserted-identity: <sip:a@b>\r\n\r\n',
    );
    assert.deepEqual(
      msg.headers.map((h) => h.name),
      ['x-My-Header', 'P-Asserted-Identity'],
    );
  });

  for (const bad of [
    '',
    'garbage',
    'INVITE sip:x\r\n\r\n',
    'SIP/2.0 99 Nope\r\n\r\n',
    'OPTIONS sip:x SIP/2.0\r\nno colon here\r\n\r\n',
  ]) {
    it(`refuses ${JSON.stringify(bad)} with a reason`, () => {
      assert.throws(() => parseSkeleton(bad), SkeletonError);
    });
  }
});
