/**
 * Graceful drain, on Pinhole as its own process: SIGTERM while a call is up turns new calls away
 * with 503 and Retry-After, lets the running call finish, exits 0, and a restart still has every
 * binding.
 */
import * as assert from 'node:assert/strict';
import { delay } from '../support/embedded';
import { PHONE_IP } from '../support/pinhole';
import { startPinholeProcess, type PinholeProcess } from '../support/pinhole-process';
import { startAnsweringPbx, type AnsweringPbx } from '../support/answering-pbx';
import { httpRequest } from '../support/http';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { RtpEndpoint } from '../support/rtp-endpoint';
import { parseMessageLog, runSipp } from '../support/sipp';
import { registerSippPhone, startPhoneCall } from '../support/sipp-phone';

const PHONE_SDP_IP = '192.168.77.10';
const CALL_SECONDS = 4;

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const reply = await httpRequest(url);
  return { status: reply.status, body: JSON.parse(reply.body) as unknown };
}

describe('Graceful drain on SIGTERM (Pinhole as a process)', function () {
  this.timeout(90000);
  let pinhole: PinholeProcess | undefined;
  let pbx: AnsweringPbx | undefined;
  let endpoints: RtpEndpoint[] = [];

  afterEach(async () => {
    await pbx?.stop();
    await Promise.allSettled(endpoints.map((e) => e.close()));
    endpoints = [];
    await pinhole?.dispose();
    pinhole = undefined;
    await stopAll();
  });

  it('refuses new calls with 503, lets the running call end, exits 0, keeps bindings', async () => {
    const pbxPort = await allocatePort();
    pinhole = await startPinholeProcess({ pbxPort, drainSeconds: 30 });
    const phonePort = await allocatePort();
    await registerSippPhone(
      { user: '1001', password: 'secret1001', localPort: phonePort, lanIp: PHONE_SDP_IP },
      pinhole.sipPort,
    );

    const phoneRtp = await RtpEndpoint.open({ address: PHONE_IP });
    endpoints = [phoneRtp];
    pbx = await startAnsweringPbx(pbxPort);
    const running = startPhoneCall({
      scenario: 'b2b-phone-call.xml',
      sipPort: pinhole.sipPort,
      rtpPort: phoneRtp.port,
      sdpIp: PHONE_SDP_IP,
      pauseMs: CALL_SECONDS * 1000,
    });
    const adminUrl = pinhole.adminUrl;
    await delay(1500);
    const before = await getJson(`${adminUrl}/api/calls`);
    assert.equal((before.body as { items: { state: string }[] }).items[0]?.state, 'established');

    pinhole.child.kill('SIGTERM');
    await delay(300);
    const health = await getJson(`${adminUrl}/healthz`);
    assert.equal(health.status, 503);
    assert.equal((health.body as { status: string }).status, 'draining');
    const refused = await runSipp({
      scenario: 'b2b-expect-503.xml',
      remote: `${PHONE_IP}:${pinhole.sipPort}`,
      localPort: 0,
      service: '2000',
      keys: { caller: '1001', sdp_ip: PHONE_SDP_IP, rtp_port: '9' },
      extraArgs: ['-au', '1001', '-ap', 'secret1001'],
    });
    assert.equal(refused.successfulCalls, 1, refused.messages + refused.errors);
    const answer503 = parseMessageLog(refused.messages).find((m) => m.text.startsWith('SIP/2.0 503'));
    assert.match(answer503?.text ?? '', /\r\nRetry-After: \d+/i);

    const call = await running;
    assert.equal(
      call.successfulCalls,
      1,
      `the running call finished normally\n${call.messages}${call.errors}`,
    );
    const code = await pinhole.exited;
    assert.equal(code, 0, pinhole.output());
    assert.match(pinhole.output(), /"drained"/);

    pinhole = await pinhole.restart();
    const after = await getJson(`${pinhole.adminUrl}/api/registrations`);
    const rows = (after.body as { items: { aor: string; source: string }[] }).items;
    assert.deepEqual(
      rows.map((r) => [r.aor, r.source]),
      [['sip:1001@pinhole.test', `${PHONE_IP}:${phonePort}`]],
    );
  });
});
