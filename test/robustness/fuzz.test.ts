/**
 * Mutated SIP over UDP and TCP to a running Pinhole (seeded: FUZZ_SEED replays a run), then
 * proof that nothing broke: no crash, counters that add up, nothing left over, heap back near
 * where it was, and a real authenticated call with anchored media still completes.
 */
import * as assert from 'node:assert/strict';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import type { SippServer } from '../support/sipp';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { phoneCalls, settledHeapMb } from './support/calls';
import { fuzzSeed, MUTATION_NAMES, runFuzz } from './support/fuzz';
import { assertNothingLeft, assertServes } from './support/health';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';

const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
const MAX_MS = 30000;
/** Heap growth allowed over the run: what is legitimately kept is a few bindings, not megabytes. */
const HEAP_GROWTH_LIMIT_MB = 40;

describe('fuzzing Pinhole over the network', function () {
  this.timeout(90000);
  let pinhole: RobustPinhole | undefined;
  let pbx: SippServer | undefined;

  afterEach(async () => {
    await pbx?.stop();
    await pinhole?.stop();
    await stopAll();
    pbx = undefined;
    pinhole = undefined;
  });

  it(`survives ${COUNT} mutated messages over UDP and TCP and still completes a call`, async () => {
    const pbxPort = await allocatePort();
    pinhole = await startRobustPinhole({ pbxPort });
    const seed = fuzzSeed();
    console.log(`      fuzz seed ${seed} (replay: FUZZ_SEED=${seed})`);
    const heapBefore = settledHeapMb();
    const rssBefore = process.memoryUsage().rss;
    const report = await runFuzz({
      host: PHONE_IP,
      port: pinhole.sipPort,
      seed,
      count: COUNT,
      maxMs: MAX_MS,
    });
    const sent = report.sent.udp + report.sent.tcp;
    console.log(
      `      sent ${report.sent.udp} UDP + ${report.sent.tcp} TCP in ${report.elapsedMs} ms, ` +
        `${report.repliesSeen} replies; mutations ${JSON.stringify(report.byMutation)}`,
    );
    assert.ok(sent >= Math.min(COUNT, 500), `only ${sent} mutants sent within ${MAX_MS} ms (seed ${seed})`);
    assert.deepEqual(Object.keys(report.byMutation).sort(), [...MUTATION_NAMES].sort(), 'every mutation ran');

    const stats = await pinhole.running.sipServer!.refreshStats();
    assert.equal(stats.apps, 1, `the app is still connected (seed ${seed})`);
    // Both paths ran: mutants refused as malformed, and mutants parsed and handed on. (No upper
    // bound: a mutant with an inserted blank line is two messages on a stream.)
    assert.ok(stats.badInput > 0 && stats.requestsReceived > 0, JSON.stringify(stats));
    await assertServes(pinhole);
    await assertNothingLeft(pinhole);

    pbx = await startPbxWithoutRtp(pbxPort);
    const call = await phoneCalls(pinhole.sipPort);
    assert.equal(
      call.successfulCalls,
      1,
      `a real call after fuzzing (seed ${seed}):\n${call.messages}${call.errors}`,
    );
    await assertNothingLeft(pinhole);

    const heapAfter = settledHeapMb();
    const rssAfter = process.memoryUsage().rss;
    console.log(
      `      heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MB, ` +
        `RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MB`,
    );
    assert.ok(
      heapAfter - heapBefore < HEAP_GROWTH_LIMIT_MB,
      `heap grew ${(heapAfter - heapBefore).toFixed(1)} MB (seed ${seed})`,
    );
  });
});
