/**
 * A PBX that does not answer: with a second target the call fails over to it; with none left
 * the phone gets 503 within a bound set by the targets' answer timeouts, not SIP's 32 s Timer B.
 */
import * as assert from 'node:assert/strict';
import { eventually } from '../support/embedded';
import { PBX_IP, PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { parseMessageLog, runSipp, startSippServer, type SippServer } from '../support/sipp';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { phoneCalls } from './support/calls';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';
import { DEFAULT_TIMERS } from '../../src/sipserver/transaction/timers';

const ANSWER_TIMEOUT_S = 1;
/** Two silent targets at 1 s each, plus SIP round trips and slack for a loaded machine. */
const REFUSAL_BOUND_MS = 8000;

function routingTo(uris: string[]): string {
  return `rules:
  - name: phones
    match: { source: phones }
    target: { uris: [${uris.map((u) => `'${u}'`).join(', ')}], timeout: ${ANSWER_TIMEOUT_S} }
  - name: pbx-to-phones
    match: { source: pbx }
    target: registrar
`;
}

describe('PBX not answering', function () {
  this.timeout(60000);
  let pinhole: RobustPinhole | undefined;
  const servers: SippServer[] = [];

  afterEach(async () => {
    await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
    await pinhole?.stop();
    await stopAll();
    pinhole = undefined;
  });

  async function silentPbx(): Promise<number> {
    const port = await allocatePort();
    const silent = startSippServer({
      scenario: 'b2b-pbx-noanswer.xml',
      localPort: port,
      localAddress: PBX_IP,
    });
    servers.push(silent);
    await silent.ready;
    return port;
  }

  it('fails over from a silent PBX to the next target', async () => {
    const silentPort = await silentPbx();
    const livePort = await allocatePort();
    pinhole = await startRobustPinhole({
      pbxPort: livePort,
      timers: DEFAULT_TIMERS,
      routing: routingTo([`sip:${PBX_IP}:${silentPort}`, `sip:${PBX_IP}:${livePort}`]),
    });
    servers.push(await startPbxWithoutRtp(livePort));
    const call = await phoneCalls(pinhole.sipPort);
    assert.equal(call.successfulCalls, 1, call.messages + call.errors);
    await eventually(() => pinhole!.records.length === 1, 'the call record');
    const record = pinhole.records[0];
    assert.equal(record.finalStatus, 200);
    assert.equal(record.legs.at(-1)?.target, `sip:2000@${PBX_IP}:${livePort}`);
    await eventually(() => isEmpty(pinhole!.leftovers()), 'calls, media and dialogs to be released');
  });

  it('answers 503 within the bound when no target answers (one silent, one not listening)', async () => {
    const silentPort = await silentPbx();
    const closedPort = await allocatePort();
    pinhole = await startRobustPinhole({
      pbxPort: closedPort,
      timers: DEFAULT_TIMERS,
      routing: routingTo([`sip:${PBX_IP}:${silentPort}`, `sip:${PBX_IP}:${closedPort}`]),
    });
    const started = Date.now();
    const result = await runSipp({
      scenario: 'b2b-expect-503.xml',
      remote: `${PHONE_IP}:${pinhole.sipPort}`,
      localPort: 0,
      service: '2000',
      keys: { caller: '1001', sdp_ip: '192.168.77.10', rtp_port: '20032' },
      extraArgs: ['-au', '1001', '-ap', 'secret1001'],
      timeoutMs: 40000,
    });
    const elapsed = Date.now() - started;
    console.log(`      503 after ${elapsed} ms with no target answering`);
    assert.equal(result.successfulCalls, 1, result.messages + result.errors);
    const refusal = parseMessageLog(result.messages).find(
      (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 503'),
    );
    assert.match(refusal?.text ?? '', /\r\nRetry-After: 30\r\n/i);
    assert.ok(elapsed < REFUSAL_BOUND_MS, `503 took ${elapsed} ms`);
    await eventually(() => isEmpty(pinhole!.leftovers()), 'calls, media and dialogs to be released');
  });
});

function isEmpty(left: { calls: number; media: number; dialogs: number }): boolean {
  return left.calls === 0 && left.media === 0 && left.dialogs === 0;
}
