/**
 * rtpengine SIGKILLed while calls are up: new calls are refused with 503 quickly (not left
 * ringing), the spawned rtpengine comes back by itself, later calls complete, and the calls
 * that were up end without leaving rtpengine sessions or dialogs behind.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import { eventually } from '../support/embedded';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { parseMessageLog, runSipp, type SippServer } from '../support/sipp';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { phoneCalls } from './support/calls';
import { assertNothingLeft } from './support/health';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';

/** ng timeout (2 s by default) plus the SIP round trips, with room for a loaded machine. */
const FAIL_FAST_BOUND_MS = 8000;

describe('rtpengine killed during calls', function () {
  this.timeout(90000);
  let pinhole: RobustPinhole | undefined;
  let pbx: SippServer | undefined;
  let squatter: dgram.Socket | undefined;

  afterEach(async () => {
    squatter?.close();
    squatter = undefined;
    await pbx?.stop();
    await pinhole?.stop();
    await stopAll();
    pbx = undefined;
    pinhole = undefined;
  });

  it('refuses new calls with 503 while it is down, restarts, and nothing leaks', async () => {
    const pbxPort = await allocatePort();
    pinhole = await startRobustPinhole({ pbxPort, retryAfterSeconds: 5 });
    const rtpengine = pinhole.running.rtpengine!;
    const firstPid = rtpengine.pid!;
    pbx = await startPbxWithoutRtp(pbxPort);

    // Two calls that stay up for a few seconds, with anchored media.
    const running = phoneCalls(pinhole.sipPort, { calls: 2, rate: 10, pauseMs: 4000, timeoutMs: 30000 });
    await eventually(
      () => pinhole!.running.b2bua.activeCalls().filter((c) => c.state === 'established').length === 2,
      'two established calls',
      10000,
    );
    assert.equal(pinhole.running.ngPool!.activeCalls, 2);

    const exited = once(rtpengine, 'exit');
    process.kill(firstPid, 'SIGKILL');
    await exited;
    // Hold rtpengine's ng port with a socket that never answers, so the restart cannot win the
    // race against the next call: rtpengine is "down" until the squatter leaves.
    squatter = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => squatter!.bind(pinhole!.ngPort, '127.0.0.1', resolve));

    const started = Date.now();
    const refused = await runSipp({
      scenario: 'b2b-expect-503.xml',
      remote: `${PHONE_IP}:${pinhole.sipPort}`,
      localPort: 0,
      service: '2000',
      keys: { caller: '1001', sdp_ip: '192.168.77.10', rtp_port: '20030' },
      extraArgs: ['-au', '1001', '-ap', 'secret1001'],
      timeoutMs: 20000,
    });
    const refusedAfterMs = Date.now() - started;
    console.log(`      503 after ${refusedAfterMs} ms while rtpengine was down`);
    assert.equal(refused.successfulCalls, 1, refused.messages + refused.errors);
    const reply = parseMessageLog(refused.messages).find(
      (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 503'),
    );
    assert.match(reply?.text ?? '', /\r\nRetry-After: 5\r\n/i);
    assert.ok(refusedAfterMs < FAIL_FAST_BOUND_MS, `503 took ${refusedAfterMs} ms`);

    squatter.close();
    squatter = undefined;
    await eventually(
      () => rtpengine.pid !== undefined && rtpengine.pid !== firstPid,
      'the spawned rtpengine to come back',
      30000,
    );
    await eventually(
      () => pinhole!.running.ngPool!.health().every((h) => h.healthy),
      'the pool to see it healthy',
      15000,
    );

    const during = await running;
    console.log(
      `      calls up during the kill: ${during.successfulCalls} ended normally, ${during.failedCalls} failed`,
    );
    const after = await phoneCalls(pinhole.sipPort);
    assert.equal(after.successfulCalls, 1, `a call after the restart:\n${after.messages}${after.errors}`);
    await assertNothingLeft(pinhole);
  });
});
