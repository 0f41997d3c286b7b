import assert from 'node:assert/strict';
import { allocatePort } from '../../support/ports';
import { stopAll } from '../../support/processes';
import { audioTarget, RtpEndpoint, type MediaTarget } from '../../support/rtp-endpoint';
import { parseMessageLog, type SippResult } from '../../support/sipp';
import {
  mediaKeys,
  receivedSdps,
  startMediaCall,
  startMediaServer,
  type MediaSippCall,
  type MediaSippServer,
} from '../../support/sipp-media';

/**
 * The b2b-* scenarios against each other, SIPp to SIPp on loopback with nothing in between, each side
 * with its own RtpEndpoint sending to the address and port the other side's SDP announced. The SDPs
 * say 127.0.0.1 here because no relay rewrites them; against Pinhole the tests pass private addresses.
 */
const LOOPBACK = '127.0.0.1';
const PACKETS = 50;
const PACKET_INTERVAL_MS = 20;
const SDP_TIMEOUT_MS = 5000;
const RTP_TIMEOUT_MS = 3000;
/** Long enough for PACKETS at PACKET_INTERVAL_MS while the call is up. */
const PAUSE_MS = 1500;
const SIPP_TIMEOUT_MS = 15000;

function describeRun(label: string, result: SippResult): string {
  return `${label}: exit ${result.exitCode}, ${result.successfulCalls} ok, ${result.failedCalls} failed\n${result.errors}\n${result.stderr}`;
}

function assertCompleted(label: string, result: SippResult): void {
  assert.equal(result.exitCode, 0, describeRun(label, result));
  assert.equal(result.successfulCalls, 1, describeRun(label, result));
}

function targetOf(sdp: string): MediaTarget {
  const target = audioTarget(sdp);
  assert.ok(target, `no audio target in\n${sdp}`);
  return target;
}

/** Each endpoint sends PACKETS to the other's target; both counts must arrive in full. */
async function exchangeRtp(
  a: RtpEndpoint,
  aTarget: MediaTarget,
  b: RtpEndpoint,
  bTarget: MediaTarget,
  packets = PACKETS,
): Promise<void> {
  const aExpects = a.received + packets;
  const bExpects = b.received + packets;
  await Promise.all([
    a.send(aTarget, packets, PACKET_INTERVAL_MS),
    b.send(bTarget, packets, PACKET_INTERVAL_MS),
  ]);
  assert.equal(await a.waitForReceived(aExpects, RTP_TIMEOUT_MS), aExpects);
  assert.equal(await b.waitForReceived(bExpects, RTP_TIMEOUT_MS), bExpects);
}

describe('b2b SIPp scenarios with RTP endpoints (no Pinhole)', function () {
  this.timeout(20000);
  let endpoints: RtpEndpoint[] = [];
  let servers: MediaSippServer[] = [];

  async function rtpEndpoint(): Promise<RtpEndpoint> {
    const endpoint = await RtpEndpoint.open();
    endpoints.push(endpoint);
    return endpoint;
  }

  interface Call {
    uas: MediaSippServer;
    uac: MediaSippCall;
    uasRtp: RtpEndpoint;
    uacRtp: RtpEndpoint;
  }

  async function startPair(
    uasScenario: string,
    uacScenario: string,
    options: { uasKeys?: Record<string, string>; uacExtraArgs?: string[]; uacTimeoutMs?: number } = {},
  ): Promise<Call> {
    const [uasPort, uacPort] = [await allocatePort(), await allocatePort()];
    const uasRtp = await rtpEndpoint();
    const uacRtp = await rtpEndpoint();
    const uas = startMediaServer({
      scenario: uasScenario,
      localPort: uasPort,
      calls: 1,
      pauseMs: PAUSE_MS,
      timeoutMs: SIPP_TIMEOUT_MS,
      keys: { ...mediaKeys(uasRtp, LOOPBACK), ...options.uasKeys },
    });
    servers.push(uas);
    await uas.ready;
    const uac = startMediaCall({
      scenario: uacScenario,
      localPort: uacPort,
      remote: `${LOOPBACK}:${uasPort}`,
      service: '2001',
      pauseMs: PAUSE_MS,
      timeoutMs: options.uacTimeoutMs ?? SIPP_TIMEOUT_MS,
      keys: { caller: '1001', ...mediaKeys(uacRtp, LOOPBACK) },
      extraArgs: options.uacExtraArgs,
    });
    return { uas, uac, uasRtp, uacRtp };
  }

  /** Offer at the UAS, answer at the UAC; each endpoint sends to the port the other advertised. */
  async function mediaBothWays(call: Call): Promise<void> {
    const offer = await call.uas.waitForSdp(1, SDP_TIMEOUT_MS);
    const answer = await call.uac.waitForSdp(1, SDP_TIMEOUT_MS);
    assert.deepEqual(targetOf(offer), { host: LOOPBACK, port: call.uacRtp.port });
    assert.deepEqual(targetOf(answer), { host: LOOPBACK, port: call.uasRtp.port });
    await exchangeRtp(call.uacRtp, targetOf(answer), call.uasRtp, targetOf(offer));
  }

  async function finish(call: Call): Promise<{ uac: SippResult; uas: SippResult }> {
    const uac = await call.uac.done;
    const uas = await call.uas.done;
    assertCompleted('UAC', uac);
    assertCompleted('UAS', uas);
    return { uac, uas };
  }

  afterEach(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await Promise.all(endpoints.map((endpoint) => endpoint.close()));
    servers = [];
    endpoints = [];
    await stopAll();
  });

  const callPairs: [uas: string, uac: string][] = [
    ['b2b-pbx-answer.xml', 'b2b-phone-call.xml'],
    ['b2b-pbx-answer-hangup.xml', 'b2b-phone-call-wait-bye.xml'],
    ['b2b-phone-answer.xml', 'b2b-pbx-call.xml'],
    ['b2b-phone-answer-hangup.xml', 'b2b-pbx-call-wait-bye.xml'],
  ];
  for (const [uasScenario, uacScenario] of callPairs) {
    it(`${uacScenario} -> ${uasScenario}: call with RTP both ways`, async () => {
      const call = await startPair(uasScenario, uacScenario);
      await mediaBothWays(call);
      const { uac, uas } = await finish(call);
      const byes = [uac, uas].flatMap((result) =>
        parseMessageLog(result.messages).filter((m) => m.direction === 'sent' && m.text.startsWith('BYE ')),
      );
      assert.equal(byes.length, 1, 'exactly one side hung up');
      assert.equal(receivedSdps(uas).length, 1);
      assert.equal(receivedSdps(uac).length, 1);
    });
  }

  it('a phone puts its private address in Via, Contact and SDP', async () => {
    const uasRtp = await rtpEndpoint();
    const uasPort = await allocatePort();
    const uas = startMediaServer({
      scenario: 'b2b-pbx-answer.xml',
      localPort: uasPort,
      calls: 1,
      timeoutMs: SIPP_TIMEOUT_MS,
      keys: mediaKeys(uasRtp, '10.20.30.40'),
    });
    servers.push(uas);
    await uas.ready;
    const uac = startMediaCall({
      scenario: 'b2b-phone-call.xml',
      localPort: await allocatePort(),
      remote: `${LOOPBACK}:${uasPort}`,
      service: '2001',
      timeoutMs: SIPP_TIMEOUT_MS,
      keys: { caller: '1001', sdp_ip: '192.168.77.10', rtp_port: '40123' },
    });
    const offer = await uas.waitForSdp(1, SDP_TIMEOUT_MS);
    assert.deepEqual(audioTarget(offer), { host: '192.168.77.10', port: 40123 });
    assert.deepEqual(audioTarget(await uac.waitForSdp(1, SDP_TIMEOUT_MS)), {
      host: '10.20.30.40',
      port: uasRtp.port,
    });
    const invite = parseMessageLog((await uas.done).messages).find(
      (m) => m.direction === 'received' && m.text.startsWith('INVITE '),
    );
    assert.ok(invite);
    assert.match(invite.text, /^Via: SIP\/2\.0\/UDP 192\.168\.77\.10:5062;branch=[^;\r\n]+;rport\r$/m);
    assert.match(invite.text, /^Contact: <sip:1001@192\.168\.77\.10:5062;transport=UDP>\r$/m);
    assert.match(invite.text, /^From: <sip:1001@127\.0\.0\.1:\d+>;tag=/m);
    assertCompleted('UAC', await uac.done);
  });

  it('b2b-phone-reinvite-hold -> b2b-pbx-answer: hold and resume, RTP before and after', async () => {
    const call = await startPair('b2b-pbx-answer.xml', 'b2b-phone-reinvite-hold.xml');
    await mediaBothWays(call);
    const hold = await call.uas.waitForSdp(2, SDP_TIMEOUT_MS);
    assert.match(hold, /^a=sendonly\r?$/m);
    assert.match(await call.uac.waitForSdp(2, SDP_TIMEOUT_MS), /^a=recvonly\r?$/m);
    const resume = await call.uas.waitForSdp(3, SDP_TIMEOUT_MS);
    assert.match(resume, /^a=sendrecv\r?$/m);
    const resumeAnswer = await call.uac.waitForSdp(3, SDP_TIMEOUT_MS);
    assert.match(resumeAnswer, /^a=sendrecv\r?$/m);
    await exchangeRtp(call.uacRtp, targetOf(resumeAnswer), call.uasRtp, targetOf(resume), 20);
    await finish(call);
  });

  it('b2b-pbx-reinvite-hold -> b2b-phone-answer: hold and resume from the PBX side', async () => {
    const call = await startPair('b2b-phone-answer.xml', 'b2b-pbx-reinvite-hold.xml');
    await mediaBothWays(call);
    assert.match(await call.uas.waitForSdp(2, SDP_TIMEOUT_MS), /^a=sendonly\r?$/m);
    assert.match(await call.uac.waitForSdp(2, SDP_TIMEOUT_MS), /^a=recvonly\r?$/m);
    const resume = await call.uas.waitForSdp(3, SDP_TIMEOUT_MS);
    const resumeAnswer = await call.uac.waitForSdp(3, SDP_TIMEOUT_MS);
    await exchangeRtp(call.uacRtp, targetOf(resumeAnswer), call.uasRtp, targetOf(resume), 20);
    await finish(call);
  });

  it('b2b-phone-call answers a digest challenge with -au/-ap', async () => {
    const call = await startPair('uas-401.xml', 'b2b-phone-call.xml', {
      uacExtraArgs: ['-au', '1001', '-ap', 'secret'],
    });
    const { uac } = await finish(call);
    const invites = parseMessageLog(uac.messages).filter(
      (m) => m.direction === 'sent' && m.text.startsWith('INVITE '),
    );
    assert.equal(invites.length, 2);
    assert.doesNotMatch(invites[0].text, /^Authorization:/m);
    assert.match(invites[1].text, /^Authorization: Digest username="1001"/m);
    assert.match(invites[1].text, /^CSeq: 2 INVITE\r$/m);
  });

  it('b2b-phone-cancel -> b2b-pbx-ring-no-answer: CANCEL while ringing', async () => {
    const call = await startPair('b2b-pbx-ring-no-answer.xml', 'b2b-phone-cancel.xml');
    const offer = await call.uas.waitForSdp(1, SDP_TIMEOUT_MS);
    assert.deepEqual(targetOf(offer), { host: LOOPBACK, port: call.uacRtp.port });
    const { uac } = await finish(call);
    const sent = parseMessageLog(uac.messages).filter((m) => m.direction === 'sent');
    const branchOf = (method: string): string | undefined =>
      sent.find((m) => m.text.startsWith(`${method} `))?.text.match(/^Via: .*branch=([^;\r\n]+)/m)?.[1];
    assert.ok(branchOf('INVITE'));
    assert.equal(branchOf('CANCEL'), branchOf('INVITE'));
    assert.equal(branchOf('ACK'), branchOf('INVITE'));
  });

  const refusals: { status: string; challenge: 'yes' | 'no' }[] = [
    { status: '480', challenge: 'no' },
    { status: '480', challenge: 'yes' },
    { status: '503', challenge: 'no' },
    { status: '503', challenge: 'yes' },
    { status: '403', challenge: 'no' },
    { status: '404', challenge: 'no' },
  ];
  for (const { status, challenge } of refusals) {
    it(`b2b-expect-${status} -> b2b-answer-status ${status}${challenge === 'yes' ? ' after a 407' : ''}`, async () => {
      const call = await startPair('b2b-answer-status.xml', `b2b-expect-${status}.xml`, {
        uasKeys: { answer_status: status, challenge },
      });
      const { uac } = await finish(call);
      const acks = parseMessageLog(uac.messages).filter(
        (m) => m.direction === 'sent' && m.text.startsWith('ACK '),
      );
      assert.equal(acks.length, challenge === 'yes' ? 2 : 1);
    });
  }

  it('b2b-expect-403 fails when the call ends with another status', async () => {
    const call = await startPair('b2b-answer-status.xml', 'b2b-expect-403.xml', {
      uasKeys: { answer_status: '480', challenge: 'no' },
      uacTimeoutMs: 3000,
    });
    const uac = await call.uac.done;
    assert.notEqual(uac.exitCode, 0);
    assert.equal(uac.successfulCalls, 0);
  });

  it('b2b-expect-403 fails on a challenge', async () => {
    const call = await startPair('b2b-answer-status.xml', 'b2b-expect-403.xml', {
      uasKeys: { answer_status: '403', challenge: 'yes' },
      uacTimeoutMs: 3000,
    });
    const uac = await call.uac.done;
    assert.notEqual(uac.exitCode, 0);
    assert.equal(uac.successfulCalls, 0);
  });

  it('b2b-pbx-noanswer takes the INVITE, never responds, and stops when told', async () => {
    const call = await startPair('b2b-pbx-noanswer.xml', 'b2b-phone-call.xml', { uacTimeoutMs: 1500 });
    const offer = await call.uas.waitForSdp(1, SDP_TIMEOUT_MS);
    assert.deepEqual(targetOf(offer), { host: LOOPBACK, port: call.uacRtp.port });
    const uac = await call.uac.done;
    assert.equal(uac.successfulCalls, 0);
    const received = parseMessageLog(uac.messages).filter((m) => m.direction === 'received');
    assert.deepEqual(received, [], 'the dead PBX sent nothing');
    const uas = await call.uas.stop();
    assert.equal(uas.exitCode, 0, describeRun('UAS', uas));
    assert.equal(uas.failedCalls, 0, describeRun('UAS', uas));
    const invites = parseMessageLog(uas.messages).filter(
      (m) => m.direction === 'received' && m.text.startsWith('INVITE '),
    );
    assert.ok(invites.length >= 1);
    assert.ok(parseMessageLog(uas.messages).every((m) => m.direction === 'received'));
  });
});
