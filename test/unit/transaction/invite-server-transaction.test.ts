import assert from 'node:assert/strict';
import { InviteServerTransaction } from '../../../src/sipserver/transaction/invite-server-transaction';
import { TransactionLayer } from '../../../src/sipserver/transaction/transaction-layer';
import { FakeClock, FakeSender, flowFor, makeRequest, makeResponse } from './fakes';

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  let clock: FakeClock;
  let sender: FakeSender;
  let layer: TransactionLayer;

  beforeEach(() => {
    clock = new FakeClock();
    sender = new FakeSender(clock);
    layer = new TransactionLayer({ sender, clock, timers: { t1: 500, t2: 4000, t4: 5000 } });
  });

  afterEach(() => layer.close());

  function receive(protocol: 'udp' | 'tcp' = 'udp') {
    const invite = makeRequest({ transport: protocol.toUpperCase() });
    const flow = flowFor(protocol);
    assert.deepEqual(layer.matchRequest(invite, flow), { kind: 'new' });
    const tx = layer.createServerTransaction(invite, flow);
    assert.ok(tx instanceof InviteServerTransaction);
    const events: string[] = [];
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', () => events.push('terminated'));
    return { tx, invite, flow, events };
  }

  /** A fresh copy of the INVITE, as a retransmission would arrive. */
  const again = () => makeRequest();
  const ackFor = (toTag: string, branch = 'z9hG4bKtest1') => makeRequest({ method: 'ACK', toTag, branch });

  it('sends nothing by itself and re-sends the last provisional on an INVITE retransmission', () => {
    const { tx, flow } = receive();
    assert.equal(tx.state, 'proceeding');
    assert.equal(sender.sent.length, 0);
    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'retransmission' });
    assert.equal(sender.sent.length, 0, 'nothing to re-send before the TU answered');

    assert.equal(tx.respond(makeResponse(tx.request, 100)), true);
    assert.equal(tx.respond(makeResponse(tx.request, 180)), true);
    assert.equal(tx.state, 'proceeding');
    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'retransmission' });
    assert.deepEqual(
      sender.sent.map((s) => (s.message as { status: number }).status),
      [100, 180, 180],
    );
    assert.deepEqual(sender.sent[0].target, {
      protocol: 'udp',
      address: '127.0.0.1',
      port: 45070,
      connectionId: undefined,
    });
  });

  it('retransmits a non-2xx final on Timer G (T1 doubling, capped at T2) until Timer H', () => {
    const { tx, events } = receive();
    tx.respond(makeResponse(tx.request, 486));
    assert.equal(tx.state, 'completed');
    clock.advance(31_999);
    assert.deepEqual(
      sender.instants('SIP/2.0 486'),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['timeout', 'terminated']);
    assert.equal(layer.counts.server, 0);
    assert.equal(clock.pending, 0);
  });

  it('re-sends the final on an INVITE retransmission in completed', () => {
    const { tx, flow } = receive();
    tx.respond(makeResponse(tx.request, 404));
    clock.advance(100);
    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'retransmission' });
    assert.deepEqual(sender.instants('SIP/2.0 404'), [0, 100]);
  });

  it('absorbs the ACK: confirmed, Timer G stops, Timer I (T4) ends it', () => {
    const { tx, flow, events } = receive();
    tx.respond(makeResponse(tx.request, 486, 'busy'));
    clock.advanceTo(600);
    assert.deepEqual(layer.matchRequest(ackFor('busy'), flow), { kind: 'ack-absorbed' });
    assert.equal(tx.state, 'confirmed');
    clock.advanceTo(2000);
    assert.deepEqual(layer.matchRequest(ackFor('busy'), flow), { kind: 'ack-absorbed' });
    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'retransmission' });
    clock.advanceTo(5599);
    assert.deepEqual(sender.instants('SIP/2.0 486'), [0, 500]);
    assert.equal(tx.state, 'confirmed');
    clock.advanceTo(5600);
    assert.deepEqual(events, ['terminated']);
    assert.equal(clock.pending, 0);
  });

  it('on TCP: no Timer G, Timer H still runs, and the ACK ends it at once (Timer I = 0)', () => {
    const first = receive('tcp');
    first.tx.respond(makeResponse(first.invite, 480));
    clock.advance(32_000);
    assert.deepEqual(sender.instants('SIP/2.0 480'), [0]);
    assert.deepEqual(first.events, ['timeout', 'terminated']);

    const second = receive('tcp');
    second.tx.respond(makeResponse(second.invite, 480, 'gone'));
    assert.equal(sender.sent[1].target.connectionId, 'conn-45070', 'responses use the request connection');
    assert.deepEqual(
      layer.matchRequest(makeRequest({ method: 'ACK', toTag: 'gone', transport: 'TCP' }), second.flow),
      {
        kind: 'ack-absorbed',
      },
    );
    assert.deepEqual(second.events, ['terminated']);
    assert.equal(layer.counts.server, 0);
    assert.equal(clock.pending, 0);
  });

  it('goes to Accepted on a 2xx: absorbs INVITEs silently, reports ACKs, passes 2xx retransmissions', () => {
    const { tx, flow, events } = receive();
    const ok = makeResponse(tx.request, 200, 'dlg');
    assert.equal(tx.respond(ok), true);
    assert.equal(tx.state, 'accepted');

    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'retransmission' });
    assert.equal(sender.sent.length, 1, 'the 2xx is not re-sent by the transaction');
    clock.advance(500);
    assert.equal(tx.respond(ok), true, "the TU's 2xx retransmission is sent");
    assert.deepEqual(sender.instants('SIP/2.0 200'), [0, 500]);
    assert.equal(tx.respond(makeResponse(tx.request, 486)), false);
    assert.equal(tx.respond(makeResponse(tx.request, 180)), false);

    // RFC 3261 ACK for a 2xx: its own branch, found through the dialog identifiers.
    assert.deepEqual(layer.matchRequest(ackFor('dlg', 'z9hG4bKack2xx'), flow), {
      kind: 'ack-2xx',
      invite: tx,
    });
    // A UA reusing the INVITE branch for that ACK is matched to the transaction directly.
    assert.deepEqual(layer.matchRequest(ackFor('dlg'), flow), { kind: 'ack-2xx', invite: tx });
    assert.equal(tx.state, 'accepted');

    clock.advanceTo(31_999);
    assert.equal(tx.state, 'accepted');
    clock.advanceTo(32_000);
    assert.deepEqual(events, ['terminated'], 'Timer L ends Accepted without a timeout');
    assert.deepEqual(layer.matchRequest(ackFor('dlg', 'z9hG4bKack2xx'), flow), {
      kind: 'ack-2xx',
      invite: null,
    });
    assert.deepEqual(layer.matchRequest(again(), flow), { kind: 'new' });
    assert.equal(layer.counts.server, 0);
  });

  it('ignores responses after a non-2xx final', () => {
    const { tx } = receive();
    tx.respond(makeResponse(tx.request, 500));
    assert.equal(tx.respond(makeResponse(tx.request, 200)), false);
    assert.equal(tx.respond(makeResponse(tx.request, 180)), false);
    assert.equal(tx.lastResponse?.status, 500);
    assert.equal(sender.sent.length, 1);
  });

  it('ends with transport-error when a response cannot be sent', async () => {
    const { tx } = receive('tcp');
    const errors: string[] = [];
    tx.on('transport-error', (err) => errors.push(err.message));
    sender.failNext = 1;
    tx.respond(makeResponse(tx.request, 200));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(errors, ['connection refused']);
    assert.equal(tx.state, 'terminated');
    assert.equal(layer.counts.server, 0);
    assert.equal(clock.pending, 0);
  });
});
