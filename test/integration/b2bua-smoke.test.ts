import * as assert from 'node:assert/strict';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { eventually } from '../support/embedded';
import { SipServerThread } from '../../src/sip-host/sip-server-thread';
import { PBX_IP, startTestPinhole, type TestPinhole } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { parseMessageLog, runSipp, startSippServer, type SippServer } from '../support/sipp';
import { stopAll } from '../support/processes';

describe('B2BUA with existing scenarios', function () {
  this.timeout(60000);
  let pinhole: TestPinhole | undefined;
  let pbx: SippServer | undefined;

  afterEach(async () => {
    await pbx?.stop();
    await pinhole?.stop();
    await stopAll();
    pinhole = undefined;
    pbx = undefined;
  });

  describe('phone -> Pinhole -> PBX', () => {
    for (const thread of ['worker', 'main'] as const)
      it(`completes an authenticated call phone -> PBX and leaves nothing behind (sip.thread: ${thread})`, async () => {
        const pbxPort = await allocatePort();
        pinhole = await startTestPinhole({ pbxPort, thread });
        assert.equal(pinhole.running.sipServer instanceof SipServerThread, thread === 'worker');
        pbx = await startPbxWithoutRtp(pbxPort);
        const phone = await runSipp({
          scenario: 'uac-call-auth.xml',
          remote: `127.0.0.1:${pinhole.sipPort}`,
          localPort: await allocatePort(),
          service: '2000',
          keys: { caller: '1001' },
          extraArgs: ['-au', '1001', '-ap', 'secret1001'],
        });
        assert.equal(phone.successfulCalls, 1, phone.messages + phone.errors);
        const pbxSide = await pbx.stop();
        pbx = undefined;
        const received = parseMessageLog(pbxSide.messages).filter((m) => m.direction === 'received');
        const invite = received.find((m) => m.text.startsWith('INVITE'));
        assert.ok(invite, pbxSide.messages);
        assert.match(invite.text, /^INVITE sip:2000@127\.0\.0\.2:/);
        await eventually(() => pinhole!.records.length === 1, 'the call record');
        const record = pinhole.records[0];
        assert.equal(record.finalStatus, 200);
        assert.equal(record.endReason, 'caller-bye');
        await eventually(() => {
          const left = pinhole!.leftovers();
          return left.calls === 0 && left.media === 0 && left.dialogs === 0;
        }, 'calls, media sessions and dialogs to be released');
      });
  });

  describe('without digest users: phones proven by their registered flow', () => {
    it('relays a reliable 183 with early media and its PRACK; the 200 without SDP reuses the early answer', async () => {
      const pbxPort = await allocatePort();
      pinhole = await startTestPinhole({ pbxPort, users: null });
      pbx = startSippServer({ scenario: 'uas-prack-183.xml', localPort: pbxPort, localAddress: PBX_IP });
      await pbx.ready;
      const phonePort = await allocatePort();
      const remote = `127.0.0.1:${pinhole.sipPort}`;
      const registered = await runSipp({
        scenario: 'uac-register.xml',
        remote,
        localPort: phonePort,
        service: '1001',
      });
      assert.equal(registered.successfulCalls, 1, registered.messages);
      const phone = await runSipp({
        scenario: 'uac-prack.xml',
        remote,
        localPort: phonePort,
        service: '2000',
        keys: { caller: '1001' },
      });
      assert.equal(phone.successfulCalls, 1, phone.messages + phone.errors);
      const early = parseMessageLog(phone.messages).find(
        (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 183'),
      );
      assert.match(early?.text ?? '', /c=IN IP4 127\.0\.0\.1/, "the early SDP is rtpengine's external side");
      assert.doesNotMatch(early?.text ?? '', /127\.0\.0\.[23]/);
      await eventually(() => pinhole!.records.length === 1, 'the call record');
      assert.equal(pinhole.records[0].finalStatus, 200);
      assert.equal(pinhole.records[0].provisional, true);
    });

    it("refuses an INVITE from a phone that is not registered from the packet's source", async () => {
      const pbxPort = await allocatePort();
      pinhole = await startTestPinhole({ pbxPort, users: null });
      const result = await runSipp({
        scenario: 'b2b-expect-403.xml',
        remote: `127.0.0.1:${pinhole.sipPort}`,
        localPort: 0,
        service: '2000',
        keys: { caller: '1001', sdp_ip: '192.168.77.10', rtp_port: '20020' },
      });
      assert.equal(result.successfulCalls, 1, result.messages + result.errors);
      assert.equal(pinhole.running.b2bua.stats().refused, 1);
    });
  });
});
