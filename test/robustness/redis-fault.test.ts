/**
 * The redis binding store killed and started again: while it is gone REGISTER gets a clear
 * error quickly (503 with Retry-After, never silence), Pinhole keeps running and answering, and once
 * redis is back registrations work again without a restart.
 */
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll, stopProcess } from '../support/processes';
import { startRedis } from '../support/redis';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';
import { listedContacts, optionsStatus, register, type Target } from './support/sip-probe';

/** A REGISTER must get its error well before a phone's own transaction gives up (Timer F, 32 s). */
const ERROR_BOUND_MS = 5000;
const RECOVERY_MS = 15000;

describe('redis store disappears and comes back', function () {
  this.timeout(60000);
  let pinhole: RobustPinhole | undefined;
  let redis: ChildProcess | undefined;

  afterEach(async () => {
    await pinhole?.stop().catch(() => undefined);
    if (redis) await stopProcess(redis, 'SIGKILL');
    await stopAll();
    pinhole = undefined;
    redis = undefined;
  });

  it('answers REGISTER with an error while it is gone and recovers when it returns', async () => {
    const redisPort = await allocatePort();
    redis = await startRedis(redisPort);
    pinhole = await startRobustPinhole({
      pbxPort: await allocatePort(),
      media: false,
      store: `redis://127.0.0.1:${redisPort}/0`,
    });
    const udp: Target = { protocol: 'udp', host: PHONE_IP, port: pinhole.sipPort };
    const attempt = (n: number) => ({
      user: '1001',
      password: 'secret1001',
      contact: `<sip:1001@192.168.1.60:${6000 + n}>`,
      waitMs: ERROR_BOUND_MS,
    });
    assert.equal((await register(udp, attempt(1))).status, 200, 'REGISTER with redis up');

    await stopProcess(redis, 'SIGKILL');
    redis = undefined;
    const started = Date.now();
    const during = await register(udp, attempt(2));
    const elapsed = Date.now() - started;
    console.log(`      REGISTER with redis gone: ${during.status} after ${elapsed} ms`);
    assert.equal(during.status, 503, `got ${during.reply ?? 'no answer'}`);
    assert.match(during.reply ?? '', /\r\nRetry-After: \d+\r\n/);
    assert.equal(await optionsStatus(udp), 200, 'Pinhole still answers');
    assert.equal(pinhole.running.registrar.storeHealthy(), false, 'the registrar reports its store down');

    redis = await startRedis(redisPort);
    const deadline = Date.now() + RECOVERY_MS;
    let after = await register(udp, attempt(3));
    while (after.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await register(udp, attempt(3));
    }
    assert.equal(after.status, 200, `REGISTER after redis returned: ${after.reply ?? 'no answer'}`);
    const fetched = await register(udp, { ...attempt(4), contact: null });
    assert.ok(
      listedContacts(fetched.reply).includes('sip:1001@192.168.1.60:6003'),
      `the new binding is stored: ${fetched.reply ?? ''}`,
    );
    assert.equal(pinhole.running.registrar.storeHealthy(), true);
  });
});
