import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import Redis from 'ioredis';
import { createLogger } from '../../src/logging';
import { RedisBindingStore } from '../../src/registrar/redis-store';
import { Registrar } from '../../src/registrar/registrar';
import { startEmbedded, type EmbeddedHarness } from '../support/embedded';
import { allocatePort } from '../support/ports';
import { stopProcess } from '../support/processes';
import { startRedis } from '../support/redis';
import { registerText, statusLine, udpPhone, type RawPhone } from '../unit/registrar/raw-phone';

interface Edge {
  harness: EmbeddedHarness;
  registrar: Registrar;
}

async function startEdge(redisUrl: string): Promise<Edge> {
  const harness = await startEmbedded();
  const srf = await harness.connectApp();
  const registrar = new Registrar({
    domain: 'shared.test',
    authenticator: null,
    policy: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, natUdpExpires: 60 },
    maxContacts: 5,
    localNetworks: [],
    store: await RedisBindingStore.open(redisUrl),
    keepalive: { intervalMs: 0, maxFailures: 2 },
    logger: createLogger('error'),
  });
  registrar.install(srf);
  return { harness, registrar };
}

describe('registrar on a shared Redis store (two Pinholes)', function () {
  this.timeout(30000);
  let redis: ChildProcess | undefined;
  const edges: Edge[] = [];
  const phones: RawPhone[] = [];
  let url = '';

  before(async () => {
    const port = await allocatePort();
    redis = await startRedis(port);
    url = `redis://127.0.0.1:${port}/0`;
  });
  after(async () => {
    for (const p of phones) await p.close();
    for (const e of edges) {
      await e.registrar.stop();
      await e.harness.stop();
    }
    if (redis) await stopProcess(redis);
  });

  it('a binding registered through one is found, and removed, through the other', async () => {
    const a = await startEdge(url);
    const b = await startEdge(url);
    edges.push(a, b);
    const phone = await udpPhone(a.harness.sipPort);
    phones.push(phone);
    phone.send(registerText({ user: '2001', serverPort: a.harness.sipPort }));
    await phone.waitFor((m) => statusLine(m)?.status === 200);

    const [target] = await b.registrar.lookup('sip:2001@shared.test');
    assert.equal(target.flow.sourcePort, phone.port);
    assert.equal(target.natVerdict.natted, true);
    const client = new Redis(url);
    const ttl = await client.pttl('pinhole:aor:sip:2001@shared.test').finally(() => client.disconnect());
    assert.ok(ttl > 0 && ttl <= 60_000, `key expires with the binding (${ttl} ms)`);

    const from = phone.received.length;
    phone.send(registerText({ user: '2001', serverPort: b.harness.sipPort, cseq: 2, expires: '0' }));
    await phone.waitFor((m) => statusLine(m)?.status === 200, 5000, from);
    assert.deepEqual(await a.registrar.lookup('2001@shared.test'), []);
  });
});
