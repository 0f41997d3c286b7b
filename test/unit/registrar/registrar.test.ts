import * as assert from 'node:assert/strict';
import { createLogger } from '../../../src/logging';
import { proxyFor, Registrar, type IncomingRegister } from '../../../src/registrar/registrar';
import type { BindingStore } from '../../../src/registrar/store';
import type { Binding } from '../../../src/registrar/types';

/** A BindingStore in a Map that counts writes. */
class MemoryStore implements BindingStore {
  readonly shared = false;
  readonly data = new Map<string, Binding[]>();
  puts = 0;
  healthy() {
    return true;
  }
  get(aor: string) {
    return Promise.resolve(this.data.get(aor) ?? []);
  }
  put(aor: string, bindings: Binding[]) {
    this.puts++;
    if (bindings.length) this.data.set(aor, bindings);
    else this.data.delete(aor);
    return Promise.resolve();
  }
  all() {
    return Promise.resolve(new Map(this.data));
  }
  close() {
    return Promise.resolve();
  }
}

function incoming(headers: Record<string, string>, protocol = 'udp'): IncomingRegister {
  const all: Record<string, string> = {
    To: '<sip:1001@10.9.9.9>',
    'Call-ID': 'c1',
    CSeq: '1 REGISTER',
    Via: `SIP/2.0/${protocol === 'udp' ? 'UDP' : 'WS'} 192.168.1.50:5062;branch=z9hG4bK1;rport`,
    ...headers,
  };
  return {
    get: (name) => all[name],
    source_address: '198.51.100.7',
    source_port: '40001',
    protocol,
  };
}

describe('Registrar.handle', () => {
  let now = 1_000_000;
  const store = new MemoryStore();
  const registrar = new Registrar({
    domain: 'example.com',
    authenticator: null,
    policy: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, natUdpExpires: 60 },
    maxContacts: 3,
    localNetworks: [],
    store,
    keepalive: { intervalMs: 0, maxFailures: 3 },
    logger: createLogger('error'),
    now: () => now,
  });

  it('stores the binding with its flow, answers 200 listing it, and lookup routes to the flow', async () => {
    const reply = await registrar.handle(
      incoming({ Contact: '<sip:1001@192.168.1.50:5062>', Expires: '3600' }),
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.headers.Contact, ['<sip:1001@192.168.1.50:5062>;expires=60']);
    const [target] = await registrar.lookup('1001');
    assert.equal(target.proxy, 'sip:198.51.100.7:40001');
    assert.equal(target.contact, 'sip:1001@192.168.1.50:5062');
    assert.equal(target.expiresAt, now + 60_000);
    assert.deepEqual(await registrar.lookup('sip:1001@EXAMPLE.com'), [target]);
  });

  it('answers a query (no Contact) with the bindings and writes nothing', async () => {
    const before = store.puts;
    now += 10_000;
    const reply = await registrar.handle(incoming({ CSeq: '2 REGISTER' }));
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.headers.Contact, ['<sip:1001@192.168.1.50:5062>;expires=50']);
    assert.equal(store.puts, before);
  });

  it('answers 423 with Min-Expires, 500 to an old CSeq and 400 to garbage, writing nothing', async () => {
    const before = store.puts;
    const brief = await registrar.handle(
      incoming({ Contact: '<sip:1001@192.168.1.50:5062>', Expires: '5', CSeq: '3 REGISTER' }),
    );
    assert.deepEqual([brief.status, brief.headers['Min-Expires']], [423, ['60']]);
    const old = await registrar.handle(
      incoming({ Contact: '<sip:1001@192.168.1.50:5062>', CSeq: '1 REGISTER' }),
    );
    assert.equal(old.status, 500);
    const bad = await registrar.handle(
      incoming({ Contact: '<sip:a@b>, <sip:c@d>, <sip:e@f>, <sip:g@h>', CSeq: '4 REGISTER' }),
    );
    assert.equal(bad.status, 400);
    assert.match(bad.reason, /too many contacts/);
    assert.equal(store.puts, before);
  });

  it('tells a WebSocket flow apart from TCP by the Via transport', async () => {
    await registrar.handle(
      incoming({ To: '<sip:web@x>', Contact: '<sip:abc@df7jal23ls0d.invalid;transport=ws>' }, 'tcp'),
    );
    const [target] = await registrar.lookup('web');
    assert.equal(target.transport, 'ws');
    assert.equal(target.proxy, 'sip:198.51.100.7:40001;transport=ws');
    assert.equal(target.flow.connection, 'tcp:198.51.100.7:40001');
    assert.deepEqual(target.natVerdict.reasons, [
      'contact-hostname:df7jal23ls0d.invalid',
      'via-private:192.168.1.50',
    ]);
  });

  it('serializes REGISTERs of one AoR so concurrent ones do not overwrite each other', async () => {
    const replies = await Promise.all(
      [1, 2, 3].map((i) =>
        registrar.handle(
          incoming({ To: '<sip:multi@x>', 'Call-ID': `m${i}`, Contact: `<sip:multi@192.168.1.${i}>` }),
        ),
      ),
    );
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200],
    );
    assert.equal((await registrar.lookup('multi')).length, 3);
  });

  it('brackets IPv6 sources in the next-hop URI', () => {
    assert.equal(
      proxyFor({
        sourceAddress: '2001:db8::1',
        sourcePort: 5062,
        protocol: 'udp',
        viaTransport: 'UDP',
        receivedOn: null,
        connection: null,
      }),
      'sip:[2001:db8::1]:5062',
    );
  });
});
