/**
 * Calls through the whole product (startPinhole: embedded SIP server, registrar, B2BUA, spawned
 * rtpengine) between SIPp phones on 127.0.0.1 with private addresses in Via, Contact and SDP and a
 * SIPp PBX on 127.0.0.2. Media is real RTP between RtpEndpoints, counted where it lands.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { startAnsweringPbx, type AnsweringPbx } from '../support/answering-pbx';
import { eventually } from '../support/embedded';
import { INTERNAL_IP, PBX_IP, PHONE_IP, startTestPinhole, type TestPinhole } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { audioTarget, RtpEndpoint } from '../support/rtp-endpoint';
import { registerSippPhone } from '../support/sipp-phone';
import {
  parseMessageLog,
  runSipp,
  startSippServer,
  type SippOptions,
  type SippResult,
  type SippServer,
} from '../support/sipp';

const PHONE_SDP_IP = '192.168.77.10';
const PACKETS = 100;
const CALL_PAUSE_MS = 3500;

interface Peers {
  servers: SippServer[];
  endpoints: RtpEndpoint[];
}

function received(result: SippResult): string[] {
  return parseMessageLog(result.messages)
    .filter((m) => m.direction === 'received')
    .map((m) => m.text);
}

function sdpBodies(result: SippResult): string[] {
  return received(result)
    .map((text) => text.split('\r\n\r\n').slice(1).join('\r\n\r\n'))
    .filter((body) => body.startsWith('v=0'));
}

describe('B2BUA calls through Pinhole with rtpengine', function () {
  this.timeout(90000);
  let pinhole: TestPinhole;
  let pbxPort: number;
  let peers: Peers;

  before(async () => {
    pbxPort = await allocatePort();
    pinhole = await startTestPinhole({ pbxPort, ringTimeoutSeconds: 20 });
  });

  after(async () => {
    await pinhole?.stop();
    await stopAll();
  });

  beforeEach(() => {
    peers = { servers: [], endpoints: [] };
  });

  afterEach(async () => {
    await Promise.allSettled(peers.servers.map((s) => s.stop()));
    await Promise.allSettled(peers.endpoints.map((e) => e.close()));
    await eventually(
      () => {
        const left = pinhole.leftovers();
        return left.calls === 0 && left.media === 0 && left.dialogs === 0;
      },
      `no calls, rtpengine sessions or dialogs left (now ${JSON.stringify(pinhole.leftovers())})`,
      40000,
    );
  });

  async function endpoint(address: string): Promise<RtpEndpoint> {
    const e = await RtpEndpoint.open({ address });
    peers.endpoints.push(e);
    return e;
  }

  function server(options: SippOptions): SippServer {
    const s = startSippServer(options);
    peers.servers.push(s);
    return s;
  }

  function phoneCall(
    scenario: string,
    rtpPort: number,
    extra: Partial<SippOptions> = {},
  ): Promise<SippResult> {
    return runSipp({
      scenario,
      remote: `${PHONE_IP}:${pinhole.sipPort}`,
      localPort: 0,
      service: '2000',
      keys: { caller: '1001', sdp_ip: PHONE_SDP_IP, rtp_port: String(rtpPort) },
      extraArgs: ['-au', '1001', '-ap', 'secret1001'],
      pauseMs: CALL_PAUSE_MS,
      ...extra,
    });
  }

  /** The PBX (on 127.0.0.2) calls `user` through Pinhole's internal side. */
  function pbxCall(
    scenario: string,
    user: string,
    rtpPort: number,
    extra: Partial<SippOptions> = {},
  ): Promise<SippResult> {
    return runSipp({
      scenario,
      remote: `${INTERNAL_IP}:${pinhole.sipPort}`,
      localPort: 0,
      localAddress: PBX_IP,
      service: user,
      keys: { caller: '2000', sdp_ip: PBX_IP, rtp_port: String(rtpPort) },
      ...extra,
    });
  }

  function registerPhone(user: string, password: string, localPort: number, lanIp = PHONE_SDP_IP) {
    return registerSippPhone({ user, password, localPort, lanIp }, pinhole.sipPort);
  }

  /** startAnsweringPbx on pbxPort, stopped by afterEach if the test does not get that far. */
  async function answeringPbx(): Promise<AnsweringPbx> {
    const pbx = await startAnsweringPbx(pbxPort);
    peers.servers.push(pbx.sipp);
    peers.endpoints.push(pbx.rtp);
    return pbx;
  }

  /** rtpengine's ports for the established call: where the phone side and the PBX side must send. */
  async function anchoredPorts(): Promise<{ caller: number; callee: number; callId: string }> {
    let established: ReturnType<typeof pinhole.running.b2bua.activeCalls>[number] | undefined;
    await eventually(
      () => {
        established = pinhole.running.b2bua.activeCalls().find((c) => c.state === 'established');
        return established !== undefined;
      },
      'an established call',
      10000,
    );
    const call = established!;
    const { legs } = await pinhole.running.ngPool!.query(call.callId);
    const callerLeg = legs.find((l) => l.tag === call.callerTag);
    const calleeLeg = legs.find((l) => l.tag !== call.callerTag);
    const caller = callerLeg?.streams[0]?.localPort;
    const callee = calleeLeg?.streams[0]?.localPort;
    assert.ok(caller && callee, JSON.stringify(legs));
    return { caller, callee, callId: call.callId };
  }

  /**
   * Both endpoints send PACKETS to rtpengine's port facing them (the caller's on `caller.host`,
   * the callee's on `callee.host`); returns what each received.
   */
  async function exchangeRtp(
    caller: { rtp: RtpEndpoint; host: string },
    callee: { rtp: RtpEndpoint; host: string },
  ) {
    const ports = await anchoredPorts();
    await Promise.all([
      caller.rtp.send({ host: caller.host, port: ports.caller }, PACKETS),
      callee.rtp.send({ host: callee.host, port: ports.callee }, PACKETS),
    ]);
    await Promise.all([caller.rtp.waitForReceived(PACKETS, 2000), callee.rtp.waitForReceived(PACKETS, 2000)]);
    return { ...ports, callerReceived: caller.rtp.received, calleeReceived: callee.rtp.received };
  }

  function assertHidden(pbxSide: SippResult, phoneSide: SippResult): void {
    for (const text of received(pbxSide)) {
      assert.doesNotMatch(text, /192\.168\.77\./, `the PBX saw a phone's private address:\n${text}`);
      assert.doesNotMatch(text, /127\.0\.0\.1/, `the PBX saw the phone side:\n${text}`);
    }
    for (const text of received(phoneSide))
      assert.doesNotMatch(text, /127\.0\.0\.[23]/, `the phone saw the PBX side:\n${text}`);
  }

  it('phone -> PBX: RTP both ways through rtpengine, no private address crosses, one call record', async () => {
    const phoneRtp = await endpoint(PHONE_IP);
    const pbx = await answeringPbx();
    const before = pinhole.records.length;
    const calling = phoneCall('b2b-phone-call.xml', phoneRtp.port);
    const media = await exchangeRtp({ rtp: phoneRtp, host: PHONE_IP }, { rtp: pbx.rtp, host: INTERNAL_IP });
    const phoneSide = await calling;
    assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
    const pbxSide = await pbx.stop();
    assert.ok(media.callerReceived >= PACKETS * 0.95, `phone received ${media.callerReceived}/${PACKETS}`);
    assert.ok(media.calleeReceived >= PACKETS * 0.95, `PBX received ${media.calleeReceived}/${PACKETS}`);
    assert.equal(audioTarget(sdpBodies(phoneSide).at(-1)!)?.port, media.caller);
    assert.equal(audioTarget(sdpBodies(pbxSide)[0])?.port, media.callee);
    assertHidden(pbxSide, phoneSide);
    await eventually(() => pinhole.records.length === before + 1, 'the call record');
    const record = pinhole.records[before];
    assert.equal(record.finalStatus, 200);
    assert.equal(record.endReason, 'caller-bye');
    assert.equal(record.anchored, true);
    assert.equal(record.from, '1001');
    assert.equal(record.to, '2000');
    assert.equal(record.legs[0].nat?.natted, true);
    const sentByPhone = record.legs[0].media?.reduce((n, s) => n + s.packets, 0) ?? 0;
    assert.ok(sentByPhone >= PACKETS * 0.95, `rtpengine counted ${sentByPhone} packets from the phone`);
    console.log(
      `      phone -> PBX: phone got ${media.callerReceived}/${PACKETS}, PBX got ${media.calleeReceived}/${PACKETS}`,
    );
  });

  it('PBX -> registered phone: the INVITE reaches the phone through its flow, RTP both ways', async () => {
    const phonePort = await allocatePort();
    await registerPhone('1001', 'secret1001', phonePort);
    const phoneRtp = await endpoint(PHONE_IP);
    const pbxRtp = await endpoint(PBX_IP);
    const phone = server({
      scenario: 'b2b-phone-answer.xml',
      localPort: phonePort,
      keys: { sdp_ip: PHONE_SDP_IP, rtp_port: String(phoneRtp.port) },
    });
    await phone.ready;
    const calling = pbxCall('b2b-pbx-call.xml', '1001', pbxRtp.port, { pauseMs: CALL_PAUSE_MS });
    const media = await exchangeRtp({ rtp: pbxRtp, host: INTERNAL_IP }, { rtp: phoneRtp, host: PHONE_IP });
    const pbxSide = await calling;
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages + pbxSide.errors);
    const phoneSide = await phone.stop();
    assert.ok(media.callerReceived >= PACKETS * 0.95, `PBX received ${media.callerReceived}/${PACKETS}`);
    assert.ok(media.calleeReceived >= PACKETS * 0.95, `phone received ${media.calleeReceived}/${PACKETS}`);
    assertHidden(pbxSide, phoneSide);
    const invite = received(phoneSide).find((t) => t.startsWith('INVITE'));
    assert.match(invite ?? '', /^INVITE sip:1001@192\.168\.77\.10:5062/);
    console.log(
      `      PBX -> phone: PBX got ${media.callerReceived}/${PACKETS}, phone got ${media.calleeReceived}/${PACKETS}`,
    );
  });

  it('forks to every binding of the AoR: the first to answer wins, the other is cancelled', async () => {
    const answeringPort = await allocatePort();
    const ringingPort = await allocatePort();
    await registerPhone('1002', 'secret1002', answeringPort, '192.168.77.20');
    await registerPhone('1002', 'secret1002', ringingPort, '192.168.77.21');
    const phoneRtp = await endpoint(PHONE_IP);
    const pbxRtp = await endpoint(PBX_IP);
    const ringing = server({ scenario: 'b2b-pbx-ring-no-answer.xml', localPort: ringingPort });
    const answering = server({
      scenario: 'b2b-phone-answer.xml',
      localPort: answeringPort,
      keys: { sdp_ip: '192.168.77.20', rtp_port: String(phoneRtp.port) },
    });
    await Promise.all([ringing.ready, answering.ready]);
    const pbxSide = await pbxCall('b2b-pbx-call.xml', '1002', pbxRtp.port, { pauseMs: 500 });
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages + pbxSide.errors);
    const cancelled = await ringing.stop();
    assert.equal(cancelled.successfulCalls, 1, `the ringing phone was not cancelled:\n${cancelled.messages}`);
    const answered = await answering.stop();
    assert.equal(answered.successfulCalls, 1, answered.messages);
  });

  it('CANCEL before the answer reaches the PBX and ends the call with 487', async () => {
    const pbx = server({ scenario: 'b2b-pbx-ring-no-answer.xml', localPort: pbxPort, localAddress: PBX_IP });
    await pbx.ready;
    const before = pinhole.records.length;
    const phoneSide = await phoneCall('b2b-phone-cancel.xml', 20000);
    assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
    const pbxSide = await pbx.stop();
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages);
    await eventually(() => pinhole.records.length === before + 1, 'the call record');
    assert.equal(pinhole.records[before].endReason, 'caller-cancel');
    assert.equal(pinhole.records[before].finalStatus, 487);
  });

  it('hold and resume by re-INVITE from the phone pass through rtpengine', async () => {
    const pbx = await answeringPbx();
    const phoneSide = await phoneCall('b2b-phone-reinvite-hold.xml', 20002, { pauseMs: 300 });
    assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
    const pbxSide = await pbx.stop();
    const offers = sdpBodies(pbxSide);
    assert.equal(offers.length, 3, 'initial offer and two re-INVITE offers reach the PBX');
    assert.match(offers[1], /a=sendonly/);
    assert.match(offers[2], /a=sendrecv/);
    assertHidden(pbxSide, phoneSide);
  });

  it('hold and resume by re-INVITE from the PBX reach the phone', async () => {
    const phonePort = await allocatePort();
    await registerPhone('1001', 'secret1001', phonePort);
    const phone = server({
      scenario: 'b2b-phone-answer.xml',
      localPort: phonePort,
      keys: { sdp_ip: PHONE_SDP_IP, rtp_port: '20004' },
    });
    await phone.ready;
    const pbxSide = await pbxCall('b2b-pbx-reinvite-hold.xml', '1001', 20006, { pauseMs: 300 });
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages + pbxSide.errors);
    const phoneSide = await phone.stop();
    const offers = sdpBodies(phoneSide);
    assert.equal(offers.length, 3, phoneSide.messages);
    assert.match(offers[1], /a=sendonly/);
    assert.match(offers[2], /a=sendrecv/);
    assertHidden(pbxSide, phoneSide);
  });

  it('480 when the called user has no binding', async () => {
    const result = await pbxCall('b2b-expect-480.xml', '1009', 20008);
    assert.equal(result.successfulCalls, 1, result.messages + result.errors);
  });

  it("refuses a stranger's INVITE: challenged, then 403 for wrong credentials; nothing reaches the PBX", async () => {
    const pbx = server({
      scenario: 'b2b-pbx-answer.xml',
      localPort: pbxPort,
      localAddress: PBX_IP,
      keys: { sdp_ip: PBX_IP, rtp_port: '20014' },
    });
    await pbx.ready;
    const result = await runSipp({
      scenario: 'phone-call-auth-403.xml',
      remote: `${PHONE_IP}:${pinhole.sipPort}`,
      localPort: 0,
      service: '2000',
      keys: { caller: '1001' },
      extraArgs: ['-au', '1001', '-ap', 'not-the-password'],
    });
    assert.equal(result.successfulCalls, 1, result.messages + result.errors);
    const pbxSide = await pbx.stop();
    assert.equal(received(pbxSide).length, 0, pbxSide.messages);
  });

  describe('routing rules', () => {
    let original: string;
    before(() => {
      original = fs.readFileSync(pinhole.routingFile, 'utf8');
    });
    after(() => {
      fs.writeFileSync(pinhole.routingFile, original);
      pinhole.running.routing.reloadNow();
    });

    it('fail over to the second target when the first stays silent past its timeout', async () => {
      const deadPort = await allocatePort();
      const dead = server({ scenario: 'b2b-pbx-noanswer.xml', localPort: deadPort, localAddress: PBX_IP });
      const pbx = server({
        scenario: 'b2b-pbx-answer.xml',
        localPort: pbxPort,
        localAddress: PBX_IP,
        keys: { sdp_ip: PBX_IP, rtp_port: '20016' },
      });
      await Promise.all([dead.ready, pbx.ready]);
      fs.writeFileSync(
        pinhole.routingFile,
        `rules:
  - name: failover
    match: { source: phones }
    target: { uris: ['sip:${PBX_IP}:${deadPort}', 'sip:${PBX_IP}:${pbxPort}'], timeout: 1 }
`,
      );
      assert.equal(pinhole.running.routing.reloadNow(), true);
      const phoneSide = await phoneCall('b2b-phone-call.xml', 20010, { pauseMs: 200 });
      assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
      const deadSide = await dead.stop();
      assert.ok(
        received(deadSide).some((t) => t.startsWith('INVITE')),
        'the first target was tried',
      );
      const record = pinhole.records.at(-1);
      assert.equal(record?.finalStatus, 200);
      assert.equal(record?.legs[1]?.target, `sip:2000@${PBX_IP}:${pbxPort}`);
    });

    it('503 with Retry-After when no target answers', async () => {
      const deadPort = await allocatePort();
      const dead = server({ scenario: 'b2b-pbx-noanswer.xml', localPort: deadPort, localAddress: PBX_IP });
      await dead.ready;
      fs.writeFileSync(
        pinhole.routingFile,
        `rules:\n  - name: dead\n    match: { source: phones }\n    target: { uris: ['sip:${PBX_IP}:${deadPort}'], timeout: 1 }\n`,
      );
      assert.equal(pinhole.running.routing.reloadNow(), true);
      const result = await phoneCall('b2b-expect-503.xml', 20018, { pauseMs: 200 });
      assert.equal(result.successfulCalls, 1, result.messages + result.errors);
      const refusal = received(result).find((t) => t.startsWith('SIP/2.0 503'));
      assert.match(refusal ?? '', /\r\nRetry-After: 30\r\n/i);
      fs.writeFileSync(pinhole.routingFile, original);
      assert.equal(pinhole.running.routing.reloadNow(), true);
    });

    it('a rule change applies to the next call; a broken file is refused and the old rules stay', async () => {
      const call2999 = () =>
        runSipp({
          scenario: 'phone-call-auth-403.xml',
          remote: `${PHONE_IP}:${pinhole.sipPort}`,
          localPort: 0,
          service: '2999',
          keys: { caller: '1001' },
          extraArgs: ['-au', '1001', '-ap', 'secret1001'],
        });
      fs.writeFileSync(
        pinhole.routingFile,
        original.replace(
          'rules:\n',
          "rules:\n  - name: no-2999\n    match: { user: { exact: '2999' } }\n    reject: { status: 403 }\n",
        ),
      );
      await eventually(
        () => pinhole.running.routing.current().ruleCount === 3,
        'the watcher to reload',
        5000,
      );
      const refused = await call2999();
      assert.equal(refused.successfulCalls, 1, refused.messages + refused.errors);
      fs.writeFileSync(
        pinhole.routingFile,
        'rules:\n  - name: broken\n    match: { user: { regex: "(" } }\n',
      );
      assert.equal(pinhole.running.routing.reloadNow(), false);
      assert.equal(pinhole.running.routing.current().ruleCount, 3, 'the previous rules stay in force');
      const stillRefused = await call2999();
      assert.equal(stillRefused.successfulCalls, 1, stillRefused.messages + stillRefused.errors);
    });
  });
});
