import assert from 'node:assert/strict';
import type { SipRequest } from '../../../src/sipserver/message';
import { NonInviteClientTransaction } from '../../../src/sipserver/transaction/non-invite-client-transaction';
import { TransactionLayer } from '../../../src/sipserver/transaction/transaction-layer';
import { FakeClock, FakeSender, flowFor, makeRequest, makeResponse, targetFor } from './fakes';

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  let clock: FakeClock;
  let sender: FakeSender;
  let layer: TransactionLayer;

  beforeEach(() => {
    clock = new FakeClock();
    sender = new FakeSender(clock);
    layer = new TransactionLayer({ sender, clock, timers: { t1: 500, t2: 4000, t4: 5000 } });
  });

  afterEach(() => layer.close());

  function start(protocol: 'udp' | 'tcp' = 'udp') {
    const request: SipRequest = makeRequest({ method: 'OPTIONS', branch: 'z9hG4bKnict' });
    const tx = layer.createClientTransaction(request, targetFor(protocol));
    assert.ok(tx instanceof NonInviteClientTransaction);
    const statuses: number[] = [];
    const events: string[] = [];
    tx.on('response', (response) => statuses.push(response.status));
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', () => events.push('terminated'));
    return { tx, request, statuses, events };
  }

  it('retransmits on Timer E doubling up to T2, and times out on Timer F (64*T1)', () => {
    const { tx, events } = start();
    assert.equal(tx.state, 'trying');
    clock.advance(31_999);
    assert.deepEqual(
      sender.instants('OPTIONS'),
      [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
    );
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['timeout', 'terminated']);
    assert.equal(layer.counts.client, 0);
    assert.equal(clock.pending, 0);
  });

  it('retransmits every T2 once a provisional arrived', () => {
    const { tx, request, statuses } = start();
    clock.advanceTo(600);
    layer.matchResponse(makeResponse(request, 100), flowFor('udp'));
    assert.equal(tx.state, 'proceeding');
    assert.deepEqual(statuses, [100]);
    clock.advanceTo(14_000);
    assert.deepEqual(sender.instants('OPTIONS'), [0, 500, 1500, 5500, 9500, 13500]);
  });

  it('honours small T2 caps', () => {
    layer.close();
    layer = new TransactionLayer({ sender, clock, timers: { t1: 100, t2: 300, t4: 1000 } });
    start();
    clock.advance(1500);
    assert.deepEqual(sender.instants('OPTIONS'), [0, 100, 300, 600, 900, 1200, 1500]);
  });

  it('completes on a final, absorbs its retransmissions, and ends on Timer K (T4)', () => {
    const { tx, request, statuses, events } = start();
    clock.advanceTo(700);
    layer.matchResponse(makeResponse(request, 200), flowFor('udp'));
    assert.equal(tx.state, 'completed');
    clock.advanceTo(2000);
    assert.equal(layer.matchResponse(makeResponse(request, 200), flowFor('udp')), true);
    assert.deepEqual(statuses, [200]);
    assert.deepEqual(sender.instants('OPTIONS'), [0, 500], 'Timer E stops with the final');
    clock.advanceTo(5699);
    assert.equal(tx.state, 'completed');
    clock.advanceTo(5700);
    assert.deepEqual(events, ['terminated']);
    assert.equal(layer.matchResponse(makeResponse(request, 200), flowFor('udp')), false);
  });

  it('sends once on TCP, still times out on Timer F, and ends at once on a final', () => {
    const first = start('tcp');
    clock.advance(32_000);
    assert.deepEqual(sender.instants('OPTIONS'), [0]);
    assert.deepEqual(first.events, ['timeout', 'terminated']);

    const second = start('tcp');
    layer.matchResponse(makeResponse(second.request, 404), flowFor('tcp'));
    assert.deepEqual(second.statuses, [404]);
    assert.deepEqual(second.events, ['terminated']);
    assert.equal(layer.counts.client, 0);
    assert.equal(clock.pending, 0);
  });

  it('ends with transport-error when a retransmission cannot be sent', async () => {
    const { tx } = start();
    const errors: Error[] = [];
    tx.on('transport-error', (err) => errors.push(err));
    sender.failNext = 1;
    clock.advance(500);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, 'connection refused');
    assert.equal(tx.state, 'terminated');
    assert.equal(clock.pending, 0);
  });
});
