import * as assert from 'node:assert/strict';
import { parseRegister } from '../../../src/registrar/register-request';
import { RegistrationRelay, splitChallenges, type UpstreamRegister } from '../../../src/registrar/relay';
import type { Binding, BindingFlow } from '../../../src/registrar/types';

const flow: BindingFlow = {
  sourceAddress: '203.0.113.5',
  sourcePort: 40000,
  protocol: 'udp',
  viaTransport: 'UDP',
  receivedOn: null,
  connection: null,
};

function parsed(headers: Record<string, string>) {
  const all: Record<string, string> = {
    To: '<sip:1001@pinhole>',
    'Call-ID': 'phone-call',
    CSeq: '1 REGISTER',
    Via: 'SIP/2.0/UDP 192.168.1.50:5062;branch=z9hG4bK1',
    Contact: '<sip:1001@192.168.1.50:5062>',
    Expires: '3600',
    ...headers,
  };
  return parseRegister({ get: (n) => all[n] }, { domain: 'pbx.test', maxContacts: 5 });
}

describe('registration relay', () => {
  let now = 0;
  let sent: UpstreamRegister[] = [];
  let status = 200;
  let local: Binding[] = [];
  const relay = new RegistrationRelay({
    pbxUri: 'sip:10.0.0.10',
    domain: 'pbx.test',
    upstreamExpires: 3600,
    send: (request) => {
      sent.push(request);
      return Promise.resolve({
        status,
        reason: status === 200 ? 'OK' : 'Unauthorized',
        get: (name: string) =>
          status === 401 && name === 'WWW-Authenticate'
            ? 'Digest realm="pbx", nonce="a", algorithm=MD5, Digest realm="pbx", nonce="b", algorithm=SHA-256'
            : undefined,
      });
    },
    applyLocally: (p) => {
      local = p.contacts.map(
        (c) => ({ aor: p.aor, contact: c.uriText, expiresAt: now + 60_000 }) as unknown as Binding,
      );
      return Promise.resolve({ status: 200, reason: 'OK', headers: {} });
    },
    bindings: () => Promise.resolve(local),
    now: () => now,
  });

  beforeEach(() => {
    sent = [];
  });

  it('passes a PBX challenge back with one header line per challenge', async () => {
    status = 401;
    const reply = await relay.handle(parsed({}), flow, undefined);
    assert.equal(reply.status, 401);
    assert.deepEqual(reply.headers['WWW-Authenticate'], [
      'Digest realm="pbx", nonce="a", algorithm=MD5',
      'Digest realm="pbx", nonce="b", algorithm=SHA-256',
    ]);
    assert.equal(sent[0].headers.Expires, '3600');
    assert.match(sent[0].headers.Contact, /^<sip:1001-[0-9a-f]{12}@localhost>$/);
  });

  it('forwards with credentials, then answers refreshes from the same flow until a third of the PBX time is left', async () => {
    status = 200;
    await relay.handle(parsed({ CSeq: '2 REGISTER' }), flow, 'Digest username="1001"');
    assert.equal(sent[0].headers.Authorization, 'Digest username="1001"');
    now = 60_000;
    await relay.handle(parsed({ CSeq: '3 REGISTER' }), flow, undefined);
    assert.equal(sent.length, 1, 'absorbed');
    await relay.handle(parsed({ CSeq: '4 REGISTER' }), { ...flow, sourcePort: 40001 }, undefined);
    assert.equal(sent.length, 2, 'a new NAT mapping goes to the PBX again');
    now = 60_000 + 2500_000;
    await relay.handle(parsed({ CSeq: '5 REGISTER' }), { ...flow, sourcePort: 40001 }, undefined);
    assert.equal(sent.length, 3, 'refreshed upstream when little PBX time is left');
    assert.deepEqual(
      sent.map((r) => Number(r.headers.CSeq.split(' ')[0])),
      [2, 3, 4],
      'one upstream Call-ID with growing CSeq',
    );
  });

  it('de-registers upstream once the phone binding lapsed', async () => {
    assert.equal(await relay.sweep(), 0, 'binding still live');
    now += 61_000;
    assert.equal(await relay.sweep(), 1);
    assert.equal(sent[0].headers.Expires, '0');
    assert.match(sent[0].headers.Contact, /^<sip:1001-[0-9a-f]{12}@localhost>$/);
    assert.equal(await relay.sweep(), 0, 'only once');
  });

  it('splits comma-joined challenges only before a new Digest', () => {
    assert.deepEqual(splitChallenges('Digest realm="a,b", nonce="x", Digest realm="c"'), [
      'Digest realm="a,b", nonce="x"',
      'Digest realm="c"',
    ]);
  });
});
