/**
 * Two Pinhole processes on one Redis binding store, the way a pair behind a floating address runs:
 * a phone registers through the first, the first dies (SIGKILL), and the PBX's call to that phone
 * through the second still reaches it on the flow the first learned.
 */
import type { ChildProcess } from 'node:child_process';
import * as assert from 'node:assert/strict';
import { httpRequest } from '../support/http';
import { INTERNAL_IP, PBX_IP } from '../support/pinhole';
import { startPinholeProcess, type PinholeProcess } from '../support/pinhole-process';
import { allocatePort } from '../support/ports';
import { stopAll, stopProcess } from '../support/processes';
import { runSipp, startSippServer, type SippServer } from '../support/sipp';
import { registerSippPhone } from '../support/sipp-phone';
import { startRedis } from '../support/redis';

const PHONE_LAN_IP = '192.168.77.10';

describe('two Pinhole processes sharing a Redis store', function () {
  this.timeout(90000);
  let redis: ChildProcess | undefined;
  const pinholes: PinholeProcess[] = [];
  let phone: SippServer | undefined;

  after(async () => {
    await phone?.stop();
    for (const pinhole of pinholes) await pinhole.dispose();
    if (redis) await stopProcess(redis);
    await stopAll();
  });

  it('a phone registered through one is called through the other after the first is killed', async () => {
    const redisPort = await allocatePort();
    redis = await startRedis(redisPort);
    const store = `redis://127.0.0.1:${redisPort}/0`;
    const pbxPort = await allocatePort();
    const first = await startPinholeProcess({ pbxPort, store });
    pinholes.push(first);
    const second = await startPinholeProcess({ pbxPort, store });
    pinholes.push(second);

    const phonePort = await allocatePort();
    await registerSippPhone(
      { user: '1001', password: 'secret1001', localPort: phonePort, lanIp: PHONE_LAN_IP },
      first.sipPort,
    );
    const seen = JSON.parse((await httpRequest(`${second.adminUrl}/api/registrations`)).body) as {
      items: { aor: string; source: string }[];
    };
    assert.deepEqual(
      seen.items.map((r) => [r.aor, r.source]),
      [['sip:1001@pinhole.test', `127.0.0.1:${phonePort}`]],
      'the second sees the binding the first made',
    );

    first.child.kill('SIGKILL');
    await first.exited;
    phone = startSippServer({
      scenario: 'b2b-phone-answer.xml',
      localPort: phonePort,
      keys: { sdp_ip: PHONE_LAN_IP, rtp_port: '20020' },
    });
    await phone.ready;
    const call = await runSipp({
      scenario: 'b2b-pbx-call.xml',
      remote: `${INTERNAL_IP}:${second.sipPort}`,
      localPort: 0,
      localAddress: PBX_IP,
      service: '1001',
      keys: { caller: '2000', sdp_ip: PBX_IP, rtp_port: '20022' },
      pauseMs: 500,
    });
    assert.equal(call.successfulCalls, 1, call.messages + call.errors);
    const phoneSide = await phone.stop();
    phone = undefined;
    assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
  });
});
