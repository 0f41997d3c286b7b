import * as assert from 'node:assert/strict';
import { adminSchema } from '../../../src/admin/config';
import { CallHistory } from '../../../src/admin/history';
import { NatObservations } from '../../../src/admin/nat-observations';
import { registrationPage } from '../../../src/admin/views';
import type { CallRecord } from '../../../src/b2bua';
import { natKind, rtpNatKind, sipNatKind } from '../../../src/nat/nat-behaviour';
import type { StreamStats } from '../../../src/nat/rtpengine-pool';
import type { Binding } from '../../../src/registrar';
import { MessageTally } from '../../../src/sipserver/core/message-tally';
import { parseMessage } from '../../../src/sipserver/message';

const NATTED = { natted: true, reasons: ['contact-private:192.168.1.10'] };

function stream(endpoint: string, advertised: string, packets = 10): StreamStats {
  return { endpoint, advertised, packets, bytes: packets * 172, errors: 0, confirmed: true };
}

function binding(aor: string, source: string, port: number, overrides: Partial<Binding> = {}): Binding {
  return {
    aor,
    contact: `<sip:${aor.slice(4, aor.indexOf('@'))}@192.168.1.10:5060>`,
    instanceId: null,
    regId: null,
    q: null,
    callId: 'c',
    cseq: 1,
    expiresAt: 2_000_000,
    registeredAt: 1_000_000,
    flow: {
      sourceAddress: source,
      sourcePort: port,
      protocol: 'udp',
      viaTransport: 'UDP',
      receivedOn: null,
      connection: null,
    },
    nat: NATTED,
    userAgent: 'Yealink T54W',
    ...overrides,
  };
}

describe('NAT kind from SIP and RTP', () => {
  it('tells none, nat and cgnat from SIP alone', () => {
    assert.equal(sipNatKind(null), 'none');
    assert.equal(sipNatKind({ natted: false, reasons: [] }), 'none');
    assert.equal(sipNatKind(NATTED), 'nat');
    assert.equal(sipNatKind({ natted: true, reasons: ['contact-shared:100.64.3.2'] }), 'cgnat');
  });

  it('calls a NAT that kept the SDP port cone and one that changed it symmetric', () => {
    assert.equal(rtpNatKind(NATTED, [stream('203.0.113.5:4000', '192.168.1.10:4000')]), 'cone');
    assert.equal(rtpNatKind(NATTED, [stream('203.0.113.5:61234', '192.168.1.10:4000')]), 'symmetric');
  });

  it('calls RTP from another public address than the SIP symmetric (a NAT pool without pairing)', () => {
    const streams = [stream('203.0.113.6:4000', '192.168.1.10:4000')];
    assert.equal(rtpNatKind(NATTED, streams, '203.0.113.5'), 'symmetric');
    assert.equal(rtpNatKind(NATTED, streams, '203.0.113.6'), 'cone');
    const v6 = [stream('2001:db8::5:4000', 'fd00::10:4000')];
    assert.equal(rtpNatKind(NATTED, v6, '2001:db8::5'), 'cone');
    assert.equal(rtpNatKind(NATTED, v6, '[2001:db8::5]'), 'cone');
    assert.equal(rtpNatKind(NATTED, v6, '2001:db8::6'), 'symmetric');
  });

  it('waits for a learned packet, and ignores phones that are not behind NAT', () => {
    assert.equal(rtpNatKind(NATTED, [stream('203.0.113.5:61234', '192.168.1.10:4000', 0)]), null);
    assert.equal(rtpNatKind(NATTED, [{ packets: 0, bytes: 0, errors: 0, confirmed: false }]), null);
    assert.equal(rtpNatKind({ natted: false, reasons: [] }, [stream('1.2.3.4:5', '1.2.3.4:6')]), null);
    assert.equal(natKind(NATTED, null), 'nat');
  });
});

describe('NatObservations', () => {
  it('remembers what a call showed, by caller flow and by called phone address', () => {
    const observations = new NatObservations();
    observations.learn({
      legs: [
        { side: 'caller', kind: 'nat-phone', address: '203.0.113.5:5060', natType: 'symmetric' },
        { side: 'callee', kind: 'pbx', address: '10.0.0.10', natType: null },
      ],
    } as unknown as CallRecord);
    observations.learn({
      legs: [{ side: 'callee', kind: 'nat-phone', address: '198.51.100.7', natType: 'cone' }],
    } as unknown as CallRecord);
    assert.equal(observations.kindFor('203.0.113.5', 5060), 'symmetric');
    assert.equal(observations.kindFor('203.0.113.5', 5061), undefined);
    assert.equal(observations.kindFor('198.51.100.7', 1234), 'cone');
    assert.equal(observations.kindFor('10.0.0.10', 5060), undefined);
  });
});

describe('registration pages', () => {
  const bindings = [
    binding('sip:1002@x', '203.0.113.9', 5060),
    binding('sip:1001@x', '203.0.113.5', 5060),
    binding('sip:1003@x', '198.51.100.1', 40000, {
      nat: { natted: false, reasons: [] },
      flow: { ...binding('sip:1003@x', '198.51.100.1', 40000).flow, protocol: 'tcp', viaTransport: 'WSS' },
    }),
  ];

  it('sorts by AoR, pages, and shows the RTP verdict when a call showed one', () => {
    const observations = new NatObservations();
    observations.learn({
      legs: [{ side: 'caller', kind: 'nat-phone', address: '203.0.113.5:5060', natType: 'symmetric' }],
    } as unknown as CallRecord);
    const page = registrationPage(bindings, { offset: 0, limit: 2 }, observations);
    assert.equal(page.total, 3);
    assert.deepEqual(
      page.items.map((r) => [r.aor, r.nat, r.transport]),
      [
        ['sip:1001@x', 'symmetric', 'udp'],
        ['sip:1002@x', 'nat', 'udp'],
      ],
    );
    assert.deepEqual(
      registrationPage(bindings, { offset: 2, limit: 2 }, observations).items.map((r) => r.aor),
      ['sip:1003@x'],
    );
  });

  it('filters by text, transport and NAT before paging', () => {
    const none = new NatObservations();
    const page = (filter: object) =>
      registrationPage(bindings, { offset: 0, limit: 10, ...filter }, none).items.map((r) => r.aor);
    assert.deepEqual(page({ q: '203.0.113.9' }), ['sip:1002@x']);
    assert.deepEqual(page({ q: 'YEALINK' }).length, 3);
    assert.deepEqual(page({ transport: 'wss' }), ['sip:1003@x']);
    assert.deepEqual(page({ natted: false }), ['sip:1003@x']);
    assert.deepEqual(page({ natted: true, transport: 'wss' }), []);
  });
});

describe('CallHistory', () => {
  it('keeps one bucket per minute for the last hour, empty minutes included', () => {
    let now = 10 * 60_000 + 5_000;
    const history = new CallHistory(() => now);
    history.add(false);
    history.add(true);
    now += 60_000;
    history.add(false);
    const snapshot = history.snapshot();
    assert.equal(snapshot.buckets.length, 60);
    assert.deepEqual(snapshot.buckets.slice(-2), [
      { start: 10 * 60_000, calls: 2, failed: 1 },
      { start: 11 * 60_000, calls: 1, failed: 0 },
    ]);
    now += 60 * 60_000;
    assert.ok(history.snapshot().buckets.every((b) => b.calls === 0));
  });
});

describe('admin config', () => {
  it('refuses an admin listener off loopback without a token', () => {
    assert.equal(adminSchema.safeParse({ listen: '0.0.0.0:8090' }).success, false);
    assert.equal(adminSchema.safeParse({ listen: '0.0.0.0:8090', token: 'x'.repeat(16) }).success, true);
    assert.equal(adminSchema.safeParse({ listen: '127.0.0.1:8090' }).success, true);
    assert.equal(adminSchema.safeParse({ listen: '[::1]:8090' }).success, true);
    assert.equal(adminSchema.safeParse({ listen: '127.0.0.1:8090', token: 'short' }).success, false);
  });
});

describe('MessageTally', () => {
  it('counts received messages by method and status, and sent ones from their bytes', () => {
    const tally = new MessageTally();
    const request = parseMessage(
      Buffer.from(
        'INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n' +
          'Call-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
      ),
    );
    tally.countReceived(request);
    tally.countReceived(request);
    tally.countSent(Buffer.from('SIP/2.0 407 Proxy Authentication Required\r\nCSeq: 1 INVITE\r\n\r\n'));
    tally.countSent(Buffer.from('BYE sip:a@b SIP/2.0\r\nCSeq: 2 BYE\r\n\r\n'));
    tally.countSent(Buffer.from('FROBNICATE sip:a@b SIP/2.0\r\n\r\n'));
    tally.countSent(Buffer.from('SIP/2.0 200 OK\r\nCSeq: 9 WHATEVER\r\n\r\n'));
    assert.deepEqual([...tally.received.requests], [['INVITE', 2]]);
    assert.deepEqual(
      [...tally.sent.responses],
      [
        ['INVITE 407', 1],
        ['OTHER 200', 1],
      ],
    );
    assert.deepEqual(
      [...tally.sent.requests],
      [
        ['BYE', 1],
        ['OTHER', 1],
      ],
    );
  });
});
