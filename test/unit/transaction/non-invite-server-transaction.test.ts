import assert from 'node:assert/strict';
import { NonInviteServerTransaction } from '../../../src/sipserver/transaction/non-invite-server-transaction';
import { TransactionLayer } from '../../../src/sipserver/transaction/transaction-layer';
import { FakeClock, FakeSender, flowFor, makeRequest, makeResponse } from './fakes';

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  let clock: FakeClock;
  let sender: FakeSender;
  let layer: TransactionLayer;

  beforeEach(() => {
    clock = new FakeClock();
    sender = new FakeSender(clock);
    layer = new TransactionLayer({ sender, clock, timers: { t1: 500, t2: 4000, t4: 5000 } });
  });

  afterEach(() => layer.close());

  const register = () => makeRequest({ method: 'REGISTER', branch: 'z9hG4bKreg' });

  function receive(protocol: 'udp' | 'tcp' = 'udp') {
    const flow = flowFor(protocol);
    const tx = layer.createServerTransaction(register(), flow);
    assert.ok(tx instanceof NonInviteServerTransaction);
    const events: string[] = [];
    tx.on('terminated', () => events.push('terminated'));
    return { tx, flow, events };
  }

  const statuses = () => sender.sent.map((s) => (s.message as { status: number }).status);

  it('moves trying → proceeding → completed, re-sending the last response on retransmissions', () => {
    const { tx, flow } = receive();
    const request = tx.request;
    assert.equal(tx.state, 'trying');
    assert.deepEqual(layer.matchRequest(register(), flow), { kind: 'retransmission' });
    assert.deepEqual(statuses(), []);

    assert.equal(tx.respond(makeResponse(request, 100)), true);
    assert.equal(tx.state, 'proceeding');
    layer.matchRequest(register(), flow);
    assert.deepEqual(statuses(), [100, 100]);

    assert.equal(tx.respond(makeResponse(request, 200)), true);
    assert.equal(tx.state, 'completed');
    layer.matchRequest(register(), flow);
    assert.deepEqual(statuses(), [100, 100, 200, 200]);
    assert.equal(tx.respond(makeResponse(request, 500)), false);
    // Completed, it holds only the final's bytes: the parsed request and response are let go.
    assert.equal(tx.lastResponse, null);
    assert.throws(() => tx.request, /no longer holds its request/);
    layer.matchRequest(register(), flow);
    assert.deepEqual(statuses(), [100, 100, 200, 200, 200]);
  });

  it('keeps the final for Timer J (64*T1) on UDP, then forgets the transaction', () => {
    const { tx, flow, events } = receive();
    tx.respond(makeResponse(tx.request, 403));
    clock.advance(31_999);
    assert.equal(tx.state, 'completed');
    assert.deepEqual(statuses(), [403], 'no retransmission of its own');
    clock.advance(1);
    assert.deepEqual(events, ['terminated']);
    assert.deepEqual(layer.matchRequest(register(), flow), { kind: 'new' });
    assert.equal(layer.counts.server, 0);
  });

  it('ends at once after the final on TCP (Timer J = 0)', () => {
    const { tx, events } = receive('tcp');
    tx.respond(makeResponse(tx.request, 200));
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['terminated']);
    assert.equal(sender.sent[0].target.connectionId, 'conn-45070');
    assert.equal(clock.pending, 0);
  });
});
