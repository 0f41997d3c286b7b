import * as assert from 'node:assert/strict';
import {
  applyRegister,
  contactsForResponse,
  grantedExpires,
  type ExpiryPolicy,
} from '../../../src/registrar/binding-update';
import { parseSipUri } from '../../../src/registrar/header-syntax';
import { BadRegister, parseRegister } from '../../../src/registrar/register-request';
import type { Binding, BindingFlow, NatVerdict } from '../../../src/registrar/types';

const policy: ExpiryPolicy = { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, natUdpExpires: 60 };
const udp: BindingFlow = {
  sourceAddress: '203.0.113.5',
  sourcePort: 40000,
  protocol: 'udp',
  viaTransport: 'UDP',
  receivedOn: null,
  connection: null,
};
const tcp: BindingFlow = {
  ...udp,
  protocol: 'tcp',
  viaTransport: 'TCP',
  connection: 'tcp:203.0.113.5:40000',
};
const natted: NatVerdict = { natted: true, reasons: ['contact-private:192.168.1.50'] };
const clean: NatVerdict = { natted: false, reasons: [] };

function request(headers: Record<string, string>) {
  const base: Record<string, string> = {
    To: '<sip:1001@example.com>',
    'Call-ID': 'call-1',
    CSeq: '1 REGISTER',
    Via: 'SIP/2.0/UDP 192.168.1.50:5062;branch=z9hG4bK1;rport',
  };
  const all = { ...base, ...headers };
  return parseRegister(
    { get: (name) => (Object.prototype.hasOwnProperty.call(all, name) ? all[name] : undefined) },
    { domain: 'example.com', maxContacts: 5 },
  );
}

function apply(current: Binding[], headers: Record<string, string>, now = 0, flow = udp, nat = natted) {
  return applyRegister(current, request(headers), flow, () => nat, policy, now, parseSipUri);
}

function ok(outcome: ReturnType<typeof apply>): Binding[] {
  assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
  return outcome.kind === 'ok' ? outcome.bindings : [];
}

describe('REGISTER parsing', () => {
  it('reads the AoR under the configured domain, several contacts, Expires and contact params', () => {
    const r = request({
      Contact: '<sip:1001@192.168.1.50:5062>;expires=120;q=0.5, "Desk" <sip:1001@10.0.0.9>',
      Expires: '300',
    });
    assert.equal(r.aor, 'sip:1001@example.com');
    assert.equal(r.expires, 300);
    assert.deepEqual(
      r.contacts.map((c) => [c.uriText, c.expires, c.q]),
      [
        ['sip:1001@192.168.1.50:5062', 120, '0.5'],
        ['sip:1001@10.0.0.9', null, null],
      ],
    );
  });
  for (const [what, headers, reason] of [
    ['missing To', { To: '' }, /missing To/],
    ['bad Expires', { Expires: '-1', Contact: '<sip:a@b>' }, /bad Expires/],
    ['bad expires param', { Contact: '<sip:a@b>;expires=soon' }, /bad Contact expires/],
    ['bad Contact', { Contact: '<sip:a@b' }, /unbalanced|missing >/],
    [
      'too many contacts',
      { Contact: Array.from({ length: 6 }, (_, i) => `<sip:a@10.0.0.${i}>`).join(', ') },
      /too many contacts/,
    ],
    ['wildcard without Expires 0', { Contact: '*', Expires: '60' }, /Contact: \*/],
    ['bad reg-id', { Contact: '<sip:a@b>;reg-id=x' }, /reg-id/],
  ] as [string, Record<string, string>, RegExp][]) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => request(headers),
        (err: Error) => err instanceof BadRegister && reason.test(err.message),
      );
    });
  }
});

describe('binding updates (RFC 3261 §10.3)', () => {
  it('caps NATed UDP bindings at natUdp seconds, keeps others at the requested or maximum time', () => {
    assert.equal(grantedExpires(3600, policy, true), 60);
    assert.equal(grantedExpires(3600, policy, false), 3600);
    assert.equal(grantedExpires(999999, policy, false), 7200);
    assert.equal(grantedExpires(0, policy, true), 0);
    assert.equal(grantedExpires(30, policy, false), 'too-brief');
    const [udpBinding] = ok(apply([], { Contact: '<sip:1001@192.168.1.50:5062>', Expires: '3600' }, 1000));
    assert.equal(udpBinding.expiresAt, 1000 + 60_000);
    const [tcpBinding] = ok(apply([], { Contact: '<sip:1001@192.168.1.50:5062>' }, 1000, tcp));
    assert.equal(tcpBinding.expiresAt, 1000 + 3600_000, 'default expiry, no NAT cap on TCP');
    const [lan] = ok(apply([], { Contact: '<sip:1001@203.0.113.5:40000>', Expires: '600' }, 0, udp, clean));
    assert.equal(lan.expiresAt, 600_000);
  });

  it('answers 423 with Min-Expires for a non-zero interval under the minimum, and changes nothing', () => {
    assert.deepEqual(apply([], { Contact: '<sip:1001@192.168.1.50>', Expires: '10' }), {
      kind: 'interval-too-brief',
      minExpires: 60,
    });
  });

  it('adds, refreshes and removes contacts; the 200 lists every live binding with its expiry', () => {
    let b = ok(
      apply([], { Contact: '<sip:1001@192.168.1.50:5062>, <sip:1001@192.168.1.51>', Expires: '60' }),
    );
    assert.equal(b.length, 2);
    b = ok(apply(b, { Contact: '<sip:1001@192.168.1.50:5062>', CSeq: '2 REGISTER', Expires: '60' }, 30_000));
    assert.equal(b.length, 2);
    assert.deepEqual(contactsForResponse(b, 30_000), [
      '<sip:1001@192.168.1.50:5062>;expires=60',
      '<sip:1001@192.168.1.51>;expires=30',
    ]);
    b = ok(apply(b, { Contact: '<sip:1001@192.168.1.51>;expires=0', CSeq: '3 REGISTER' }, 31_000));
    assert.deepEqual(
      b.map((x) => x.contact),
      ['sip:1001@192.168.1.50:5062'],
    );
    assert.deepEqual(ok(apply(b, { Contact: '*', Expires: '0', CSeq: '4 REGISTER' }, 32_000)), []);
  });

  it('drops expired bindings and matches contacts by URI rules (host case, not the user)', () => {
    const b = ok(apply([], { Contact: '<sip:1001@Phone.Example.com>', Expires: '60' }, 0, udp, clean));
    const again = ok(
      apply(
        b,
        { Contact: '<sip:1001@phone.example.com>', CSeq: '2 REGISTER', Expires: '60' },
        1000,
        udp,
        clean,
      ),
    );
    assert.equal(again.length, 1);
    assert.equal(
      ok(apply(b, { CSeq: '2 REGISTER' }, 61_000)).length,
      0,
      'a query after expiry lists nothing',
    );
  });

  it('refuses a same-Call-ID REGISTER whose CSeq is not higher (for contacts and for *)', () => {
    const b = ok(apply([], { Contact: '<sip:1001@192.168.1.50>', CSeq: '5 REGISTER' }));
    assert.equal(apply(b, { Contact: '<sip:1001@192.168.1.50>', CSeq: '5 REGISTER' }).kind, 'out-of-order');
    assert.equal(apply(b, { Contact: '<sip:1001@192.168.1.50>', CSeq: '4 REGISTER' }).kind, 'out-of-order');
    assert.equal(apply(b, { Contact: '*', Expires: '0', CSeq: '5 REGISTER' }).kind, 'out-of-order');
    const otherCall = ok(
      apply(b, { Contact: '<sip:1001@192.168.1.50>', 'Call-ID': 'call-2', CSeq: '1 REGISTER' }),
    );
    assert.equal(otherCall[0].callId, 'call-2', 'a new Call-ID (phone rebooted) replaces the binding');
  });

  it('replaces the binding with the same +sip.instance and reg-id even when the Contact changed (RFC 5626)', () => {
    const instance = '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"';
    const b = ok(apply([], { Contact: `<sip:1001@192.168.1.50:5062>;+sip.instance=${instance};reg-id=1` }));
    const moved = ok(
      apply(b, {
        Contact: `<sip:1001@192.168.1.77:5062>;+sip.instance=${instance};reg-id=1`,
        'Call-ID': 'c2',
      }),
    );
    assert.deepEqual(
      moved.map((x) => x.contact),
      ['sip:1001@192.168.1.77:5062'],
    );
    assert.match(contactsForResponse(moved, 0)[0], /;\+sip\.instance=".*";reg-id=1$/);
    const second = ok(
      apply(moved, {
        Contact: `<sip:1001@192.168.1.77:5062>;+sip.instance=${instance};reg-id=2`,
        'Call-ID': 'c3',
      }),
    );
    assert.equal(second.length, 2, 'another reg-id is another flow');
  });

  it('keeps the flow and NAT verdict with each binding', () => {
    const [b] = ok(apply([], { Contact: '<sip:1001@192.168.1.50:5062>' }));
    assert.deepEqual(b.flow, udp);
    assert.deepEqual(b.nat, natted);
  });
});
