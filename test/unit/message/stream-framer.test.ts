import assert from 'node:assert/strict';
import { parseMessage, StreamFramer, type FramerEvent } from '../../../src/sipserver/message';

function message(callId: string, body = ''): Buffer {
  const head = [
    'OPTIONS sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK' + callId,
    'From: <sip:alice@example.com>;tag=1',
    'To: <sip:bob@example.com>',
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(head.join('\r\n') + '\r\n\r\n' + body);
}

/** The events as comparable values: message events become their Call-ID and body. */
function summary(events: FramerEvent[]): unknown[] {
  return events.map((e) => {
    if (e.kind !== 'message') return e;
    const m = parseMessage(e.data, { stream: true });
    return { callId: m.callId, body: m.body.toString() };
  });
}

describe('StreamFramer', () => {
  it('cuts several messages out of one chunk', () => {
    const framer = new StreamFramer(65535);
    const events = framer.push(Buffer.concat([message('a', 'one'), message('b'), message('c', 'héllo ☎')]));
    assert.deepEqual(summary(events), [
      { callId: 'a', body: 'one' },
      { callId: 'b', body: '' },
      { callId: 'c', body: 'héllo ☎' },
    ]);
    assert.equal(framer.buffered, 0);
  });

  it('reassembles a message fed byte by byte', () => {
    const framer = new StreamFramer(65535);
    const data = message('split', 'body bytes');
    const events: FramerEvent[] = [];
    for (let i = 0; i < data.length; i++) {
      const out = framer.push(data.subarray(i, i + 1));
      if (i < data.length - 1) assert.deepEqual(out, [], `no event before byte ${i + 1}`);
      events.push(...out);
    }
    assert.deepEqual(summary(events), [{ callId: 'split', body: 'body bytes' }]);
    assert.deepEqual(events[0].kind === 'message' && events[0].data, data);
  });

  it('reports CRLFCRLF keepalives between messages and ignores lone CRLFs', () => {
    const framer = new StreamFramer(65535);
    const crlf = Buffer.from('\r\n');
    const ping = Buffer.from('\r\n\r\n');
    const events = framer.push(Buffer.concat([ping, message('a'), ping, crlf, message('b'), ping, ping]));
    assert.deepEqual(summary(events), [
      { kind: 'keepalive' },
      { callId: 'a', body: '' },
      { kind: 'keepalive' },
      { callId: 'b', body: '' },
      { kind: 'keepalive' },
      { kind: 'keepalive' },
    ]);
  });

  it('reports a ping split across reads once', () => {
    const framer = new StreamFramer(65535);
    const events = [...'\r\n\r\n'].flatMap((ch) => framer.push(Buffer.from(ch)));
    assert.deepEqual(events, [{ kind: 'keepalive' }]);
    assert.equal(framer.buffered, 0);
  });

  it('waits for a body split across chunks', () => {
    const framer = new StreamFramer(65535);
    const data = message('body', 'abcdefghij');
    const bodyStart = data.indexOf('\r\n\r\n') + 4;
    assert.deepEqual(framer.push(data.subarray(0, bodyStart + 3)), []);
    assert.deepEqual(framer.push(data.subarray(bodyStart + 3, bodyStart + 7)), []);
    assert.equal(framer.buffered, bodyStart + 7);
    const events = framer.push(
      Buffer.concat([data.subarray(bodyStart + 7), message('next').subarray(0, 10)]),
    );
    assert.deepEqual(summary(events), [{ callId: 'body', body: 'abcdefghij' }]);
    assert.equal(framer.buffered, 10);
  });

  it('fails a message without Content-Length', () => {
    const framer = new StreamFramer(65535);
    const noLength = Buffer.from(
      message('x')
        .toString()
        .replace(/Content-Length: 0\r\n/, ''),
    );
    const events = framer.push(Buffer.concat([message('ok'), noLength]));
    assert.equal(events.length, 2);
    assert.equal(events[0].kind, 'message');
    assert.deepEqual(events[1], {
      kind: 'error',
      reason: 'missing or invalid Content-Length on a stream transport',
    });
    assert.equal(framer.buffered, 0);
  });

  it('fails negative and conflicting Content-Lengths', () => {
    const negative = Buffer.from(message('x').toString().replace('Content-Length: 0', 'Content-Length: -5'));
    assert.equal(new StreamFramer(65535).push(negative)[0].kind, 'error');
    const twice = Buffer.from(message('x', 'abc').toString().replace('\r\n\r\n', '\r\nl: 5\r\n\r\n'));
    assert.equal(new StreamFramer(65535).push(twice)[0].kind, 'error');
  });

  it('fails a message larger than the maximum, and an endless header section', () => {
    const big = new StreamFramer(300).push(message('big', 'x'.repeat(400)));
    assert.equal(big.length, 1);
    assert.equal(big[0].kind, 'error');
    assert.match(big[0].kind === 'error' ? big[0].reason : '', /exceeds the maximum of 300/);

    const framer = new StreamFramer(300);
    assert.deepEqual(framer.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\nX: ' + 'y'.repeat(200))), []);
    const events = framer.push(Buffer.from('y'.repeat(200)));
    assert.deepEqual(events, [{ kind: 'error', reason: 'header section exceeds the maximum message size' }]);
    assert.equal(framer.buffered, 0);
  });
});
