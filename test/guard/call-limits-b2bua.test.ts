/**
 * calls.limits through the whole product: startPinhole without media (SDP passes through), a
 * SIPp PBX on 127.0.0.2 and SIPp phones on 127.0.0.1 authenticating by digest.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { configSchema } from '../../src/config/schema';
import { createLogger } from '../../src/logging';
import { startPinhole, type RunningPinhole } from '../../src/pinhole';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { eventually } from '../support/embedded';
import { DEFAULT_ROUTING, PBX_IP, PHONE_IP, REALM } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { runSipp, type SippServer } from '../support/sipp';

describe('concurrent call caps (calls.limits)', function () {
  this.timeout(60000);
  let dir: string;
  let running: RunningPinhole | undefined;
  let pbx: SippServer | undefined;

  afterEach(async () => {
    await pbx?.stop();
    await running?.stop();
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
    running = undefined;
    pbx = undefined;
  });

  it("refuses a phone user's call over calls.limits.perUser with 486, and takes it once a call ends", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-limits-'));
    fs.writeFileSync(path.join(dir, 'routing.yaml'), DEFAULT_ROUTING);
    fs.writeFileSync(path.join(dir, 'users.yaml'), '"1001": {password: secret1001}\n');
    const sipPort = await allocatePort();
    const pbxPort = await allocatePort();
    const config = configSchema.parse({
      sip: { listen: [`udp://${PHONE_IP}:${sipPort}`] },
      registrar: {
        domain: REALM,
        users: 'users.yaml',
        store: 'bindings.json',
        keepalive: { intervalSeconds: 0 },
      },
      pbx: { uri: `sip:${PBX_IP}:${pbxPort}` },
      calls: { routing: 'routing.yaml', limits: { perUser: 1, perSource: 0 } },
      log: { level: 'error' },
    });
    running = await startPinhole(config, dir, createLogger(process.env.PINHOLE_TEST_LOG ?? 'error'));
    pbx = await startPbxWithoutRtp(pbxPort);
    const remote = `${PHONE_IP}:${sipPort}`;
    const call = (scenario: string, pauseMs = 200) =>
      runSipp({
        scenario,
        remote,
        localPort: 0,
        service: '2000',
        pauseMs,
        keys: { caller: '1001', sdp_ip: '192.168.77.10', rtp_port: '20030' },
        extraArgs: ['-au', '1001', '-ap', 'secret1001'],
      });
    const long = call('uac-call-auth.xml', 4000);
    const b2bua = running.b2bua;
    await eventually(() => b2bua.activeCalls().some((c) => c.state === 'established'), 'the first call up');
    const refused = await call('guard-expect-486.xml');
    assert.equal(refused.successfulCalls, 1, refused.messages + refused.errors);
    assert.equal(b2bua.stats().overLimit, 1);
    const first = await long;
    assert.equal(first.successfulCalls, 1, first.messages + first.errors);
    await eventually(() => b2bua.stats().active === 0, 'the first call to end');
    const again = await call('uac-call-auth.xml');
    assert.equal(again.successfulCalls, 1, again.messages + again.errors);
    assert.equal(b2bua.stats().overLimit, 1);
  });
});
