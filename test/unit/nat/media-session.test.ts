import assert from 'node:assert/strict';
import { legProfile, type NgOptions } from '../../../src/nat/media-profiles';
import {
  decideAnchoring,
  MediaSession,
  rewriteUnreachable,
  type NgController,
} from '../../../src/nat/media-session';
import { inspectSdp } from '../../../src/nat/sdp-inspect';

const interfaces = { external: 'external', internal: 'internal' };
const phone = legProfile('nat-phone', interfaces);
const pbx = legProfile('pbx', interfaces);
const browser = legProfile('webrtc', interfaces);

function sdp(address: string, port = 4000): string {
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    `a=rtcp:${port + 1} IN IP4 ${address}`,
    '',
  ].join('\r\n');
}

/** Records ng calls and answers with a recognisable SDP. */
class FakeNg implements NgController {
  readonly calls: [string, NgOptions | string][] = [];
  async offer(options: NgOptions & { sdp: string }) {
    this.calls.push(['offer', options]);
    return { sdp: sdp('198.51.100.1', 30000), endpoint: 'fake', roundTripMs: 0 };
  }
  async answer(options: NgOptions & { sdp: string }) {
    this.calls.push(['answer', options]);
    return { sdp: sdp('198.51.100.1', 30002), endpoint: 'fake', roundTripMs: 0 };
  }
  async delete(callId: string) {
    this.calls.push(['delete', callId]);
  }
  async query(callId: string) {
    this.calls.push(['query', callId]);
    return { legs: [{ tag: 'a', streams: [] }] };
  }
}

describe('decideAnchoring', () => {
  const privateOffer = inspectSdp(sdp('192.168.1.10'));
  const publicOffer = inspectSdp(sdp('203.0.113.10'));

  it('follows always and never regardless of the SDP', () => {
    assert.equal(decideAnchoring('always', publicOffer, pbx, pbx, '203.0.113.10').anchor, true);
    assert.equal(decideAnchoring('never', privateOffer, phone, pbx, '203.0.113.10').anchor, false);
  });

  it('anchors under nat when the offer carries a private address', () => {
    assert.deepEqual(decideAnchoring('nat', privateOffer, phone, pbx, '203.0.113.10'), {
      anchor: true,
      reason: 'offer carries unreachable address 192.168.1.10',
    });
  });

  it('anchors under nat when a phone announces an address other than its SIP source', () => {
    const decision = decideAnchoring('nat', publicOffer, phone, pbx, '203.0.113.99');
    assert.equal(decision.anchor, true);
    assert.match(decision.reason, /differs from SIP source 203\.0\.113\.99/);
  });

  it('anchors under nat whenever one side is WebRTC and the other is not', () => {
    assert.equal(decideAnchoring('nat', publicOffer, pbx, browser, '203.0.113.10').anchor, true);
  });

  it('anchors under nat when the PBX calls a NATed phone', () => {
    assert.equal(decideAnchoring('nat', publicOffer, pbx, phone, '203.0.113.10').anchor, true);
  });

  it('leaves a public phone calling the PBX from its own address unanchored', () => {
    assert.deepEqual(decideAnchoring('nat', publicOffer, phone, pbx, '203.0.113.10'), {
      anchor: false,
      reason: 'no NAT seen',
    });
  });
});

describe('rewriteUnreachable', () => {
  it('replaces private o=, c= and a=rtcp addresses with the SIP source and keeps ports', () => {
    const rewritten = inspectSdp(rewriteUnreachable(sdp('192.168.1.10'), '203.0.113.10'));
    assert.equal(rewritten.origin.address, '203.0.113.10');
    assert.equal(rewritten.sessionConnection, '203.0.113.10');
    assert.deepEqual(rewritten.media[0].rtcp, { port: 4001, address: '203.0.113.10' });
    assert.equal(rewritten.media[0].port, 4000);
    assert.deepEqual(rewritten.privateAddresses, []);
  });

  it('leaves public addresses, hold (0.0.0.0) and ICE candidates alone', () => {
    assert.equal(
      inspectSdp(rewriteUnreachable(sdp('198.51.100.7'), '203.0.113.10')).origin.address,
      '198.51.100.7',
    );
    assert.equal(inspectSdp(rewriteUnreachable(sdp('0.0.0.0'), '203.0.113.10')).sessionConnection, '0.0.0.0');
    const withCandidate = sdp('10.1.1.1').replace(
      'a=rtcp:',
      'a=candidate:1 1 UDP 2130706431 10.1.1.1 4000 typ host\r\na=rtcp:',
    );
    const rewritten = inspectSdp(rewriteUnreachable(withCandidate, '203.0.113.10'));
    assert.equal(rewritten.media[0].candidates[0].address, '10.1.1.1');
  });

  it('writes IP6 when the SIP source is IPv6', () => {
    const text = rewriteUnreachable(sdp('192.168.1.10'), '2001:db8::5');
    assert.match(text, /c=IN IP6 2001:db8::5/);
    assert.match(text, /o=- 1 1 IN IP6 2001:db8::5/);
  });
});

describe('MediaSession', () => {
  it('sends offer then answer with the dialog tags and deletes once', async () => {
    const ng = new FakeNg();
    const session = new MediaSession({ callId: 'c1', policy: 'nat', caller: phone, callee: pbx, ng });
    const toPbx = await session.offer({
      sdp: sdp('192.168.1.10'),
      from: 'caller',
      tag: 'a',
      sipSource: '203.0.113.10',
    });
    assert.equal(inspectSdp(toPbx).media[0].port, 30000);
    await session.answer({ sdp: sdp('10.0.0.10', 20000), from: 'callee', tag: 'b', sipSource: '10.0.0.10' });
    await session.delete();
    await session.delete();
    const [offer, answer, ...rest] = ng.calls;
    assert.equal(offer[0], 'offer');
    assert.deepEqual((offer[1] as NgOptions).direction, ['external', 'internal']);
    assert.equal((offer[1] as NgOptions)['from-tag'], 'a');
    assert.equal(answer[0], 'answer');
    assert.equal((answer[1] as NgOptions)['from-tag'], 'a');
    assert.equal((answer[1] as NgOptions)['to-tag'], 'b');
    assert.deepEqual(rest, [['delete', 'c1']]);
  });

  it('sends a re-INVITE from the callee with its own tag as from-tag', async () => {
    const ng = new FakeNg();
    const session = new MediaSession({ callId: 'c2', policy: 'always', caller: phone, callee: pbx, ng });
    await session.offer({ sdp: sdp('192.168.1.10'), from: 'caller', tag: 'a', sipSource: '203.0.113.10' });
    await session.answer({ sdp: sdp('10.0.0.10'), from: 'callee', tag: 'b', sipSource: '10.0.0.10' });
    await session.offer({ sdp: sdp('10.0.0.10'), from: 'callee', tag: 'b', sipSource: '10.0.0.10' });
    const reOffer = ng.calls[2][1] as NgOptions;
    assert.equal(reOffer['from-tag'], 'b');
    assert.equal(reOffer['to-tag'], 'a');
    assert.deepEqual(reOffer.direction, ['internal', 'external']);
  });

  it('with policy never, talks to no rtpengine and rewrites only the NATed leg', async () => {
    const ng = new FakeNg();
    const session = new MediaSession({ callId: 'c3', policy: 'never', caller: phone, callee: pbx, ng });
    const toPbx = await session.offer({
      sdp: sdp('192.168.1.10'),
      from: 'caller',
      tag: 'a',
      sipSource: '203.0.113.10',
    });
    assert.equal(inspectSdp(toPbx).sessionConnection, '203.0.113.10');
    const pbxAnswer = sdp('10.0.0.10', 20000);
    assert.equal(
      await session.answer({ sdp: pbxAnswer, from: 'callee', tag: 'b', sipSource: '10.0.0.10' }),
      pbxAnswer,
    );
    await session.delete();
    assert.deepEqual(ng.calls, []);
  });

  it('takes an early answer and then the final answer to the same offer', async () => {
    const ng = new FakeNg();
    const session = new MediaSession({ callId: 'c6', policy: 'always', caller: phone, callee: pbx, ng });
    await session.offer({ sdp: sdp('192.168.1.10'), from: 'caller', tag: 'a', sipSource: '203.0.113.7' });
    const hop = { sdp: sdp('10.0.0.10'), from: 'callee' as const, tag: 'b', sipSource: '10.0.0.10' };
    await session.answer(hop);
    await session.answer(hop);
    assert.deepEqual(
      ng.calls.map(([command]) => command),
      ['offer', 'answer', 'answer'],
    );
    assert.deepEqual(await session.stats(), [{ tag: 'a', streams: [] }]);
    await session.delete();
    assert.equal(await session.stats(), null);
  });

  it('refuses an answer that has no offer from the other side', async () => {
    const session = new MediaSession({
      callId: 'c4',
      policy: 'nat',
      caller: phone,
      callee: pbx,
      ng: new FakeNg(),
    });
    await assert.rejects(
      session.answer({ sdp: sdp('10.0.0.10'), from: 'callee', tag: 'b', sipSource: '10.0.0.10' }),
      /answer from callee without an offer/,
    );
  });

  it('rejects a malformed SDP with the inspection error before contacting rtpengine', async () => {
    const ng = new FakeNg();
    const session = new MediaSession({ callId: 'c5', policy: 'always', caller: phone, callee: pbx, ng });
    await assert.rejects(
      session.offer({ sdp: 'hello', from: 'caller', tag: 'a', sipSource: '203.0.113.10' }),
      /SDP must start with v=0/,
    );
    assert.deepEqual(ng.calls, []);
  });
});
