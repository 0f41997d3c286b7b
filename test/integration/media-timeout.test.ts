/**
 * A phone that vanishes mid-call never sends BYE. With calls.mediaTimeoutSeconds, Pinhole ends an
 * anchored call once rtpengine has seen no media either way for that long, and leaves calls whose
 * audio flows alone.
 */
import * as assert from 'node:assert/strict';
import { delay, eventually } from '../support/embedded';
import { startAnsweringPbx, type AnsweringPbx } from '../support/answering-pbx';
import { PHONE_IP, startTestPinhole, type TestPinhole } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { RtpEndpoint } from '../support/rtp-endpoint';
import { startPhoneCall } from '../support/sipp-phone';

const PHONE_LAN_IP = '192.168.77.10';

describe('calls whose media stops (calls.mediaTimeoutSeconds)', function () {
  this.timeout(60000);
  let pinhole: TestPinhole;
  let pbx: AnsweringPbx;
  let phoneRtp: RtpEndpoint;

  before(async () => {
    const pbxPort = await allocatePort();
    pinhole = await startTestPinhole({ pbxPort, mediaTimeoutSeconds: 2 });
    phoneRtp = await RtpEndpoint.open({ address: PHONE_IP });
    pbx = await startAnsweringPbx(pbxPort);
  });

  after(async () => {
    await pbx?.stop();
    await phoneRtp?.close();
    await pinhole?.stop();
    await stopAll();
  });

  it('keeps a call while audio flows, and ends it with BYE both ways once both sides fall silent', async () => {
    const calling = startPhoneCall({
      sipPort: pinhole.sipPort,
      rtpPort: phoneRtp.port,
      sdpIp: PHONE_LAN_IP,
      timeoutMs: 40000,
    });
    await eventually(
      () => pinhole.running.b2bua.activeCalls().some((c) => c.state === 'established'),
      'the call up',
      10000,
    );
    const call = pinhole.running.b2bua.activeCalls()[0];
    const { legs } = await pinhole.running.ngPool!.query(call.callId);
    const phoneSide = legs.find((l) => l.tag === call.callerTag)!.streams[0].localPort!;
    // Four seconds of audio, twice the timeout: only the phone talks, the PBX listens.
    const started = Date.now();
    await phoneRtp.send({ host: PHONE_IP, port: phoneSide }, 200);
    assert.equal(call.state, 'established', 'a call with one-way audio stays up past the timeout');
    assert.ok(Date.now() - started >= 3500);

    const silentFrom = Date.now();
    const phoneResult = await calling;
    assert.equal(phoneResult.successfulCalls, 1, `the phone got BYE\n${phoneResult.errors}`);
    await eventually(() => pinhole.leftovers().calls === 0, 'the call gone', 10000);
    const endedAfter = Date.now() - silentFrom;
    const record = pinhole.records.at(-1)!;
    assert.equal(record.endReason, 'media-timeout');
    assert.equal(record.finalStatus, 200);
    assert.ok(endedAfter >= 1500 && endedAfter < 6000, `ended ${endedAfter} ms after the audio stopped`);
    // No dialog left: the PBX answered its BYE too.
    await delay(200);
    await pinhole.running.sipServer!.refreshStats();
    assert.deepEqual(pinhole.leftovers(), { calls: 0, media: 0, dialogs: 0 });
    console.log(`      silent call ended ${endedAfter} ms after the last packet (timeout 2 s)`);
  });
});
