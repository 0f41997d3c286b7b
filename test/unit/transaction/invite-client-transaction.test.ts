import assert from 'node:assert/strict';
import type { SipRequest, SipResponse } from '../../../src/sipserver/message';
import { InviteClientTransaction } from '../../../src/sipserver/transaction/invite-client-transaction';
import { TransactionLayer } from '../../../src/sipserver/transaction/transaction-layer';
import type { Flow } from '../../../src/sipserver/transport/types';
import { FakeClock, FakeSender, flowFor, makeRequest, makeResponse, targetFor } from './fakes';

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  let clock: FakeClock;
  let sender: FakeSender;
  let layer: TransactionLayer;

  beforeEach(() => {
    clock = new FakeClock();
    sender = new FakeSender(clock);
    layer = new TransactionLayer({ sender, clock, timers: { t1: 500, t2: 4000, t4: 5000 } });
  });

  afterEach(() => layer.close());

  function start(protocol: 'udp' | 'tcp' = 'udp', invite: SipRequest = makeRequest()) {
    const tx = layer.createClientTransaction(invite, targetFor(protocol));
    assert.ok(tx instanceof InviteClientTransaction);
    const responses: SipResponse[] = [];
    const events: string[] = [];
    tx.on('response', (response) => responses.push(response));
    tx.on('timeout', () => events.push('timeout'));
    tx.on('terminated', () => events.push('terminated'));
    tx.on('transport-error', () => events.push('transport-error'));
    return { tx, invite, responses, events };
  }

  it('sends at once and retransmits on Timer A (doubling, no T2 cap) until Timer B', () => {
    const { tx, events } = start();
    assert.equal(tx.state, 'calling');
    clock.advance(31_999);
    assert.deepEqual(sender.instants('INVITE'), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['timeout', 'terminated']);
    assert.equal(tx.state, 'terminated');
    assert.equal(layer.counts.client, 0);
    assert.equal(clock.pending, 0);
  });

  it('honours a configured T1 for Timers A and B', () => {
    layer.close();
    layer = new TransactionLayer({ sender, clock, timers: { t1: 100, t2: 4000, t4: 5000 } });
    const { events } = start();
    clock.advance(6_400);
    assert.deepEqual(sender.instants('INVITE'), [0, 100, 300, 700, 1500, 3100, 6300]);
    assert.deepEqual(events, ['timeout', 'terminated']);
  });

  it('does not retransmit on TCP but still times out on Timer B', () => {
    const { events } = start('tcp');
    clock.advance(31_999);
    assert.deepEqual(sender.instants('INVITE'), [0]);
    clock.advance(1);
    assert.deepEqual(events, ['timeout', 'terminated']);
  });

  it('moves to proceeding on a provisional: emits it, stops retransmitting, becomes cancelable', () => {
    const { tx, invite, responses, events } = start();
    assert.equal(tx.cancelable, false);
    clock.advance(600);
    assert.equal(layer.matchResponse(makeResponse(invite, 180), flowFor('udp')), true);
    assert.equal(tx.state, 'proceeding');
    assert.equal(tx.cancelable, true);
    assert.deepEqual(
      responses.map((r) => r.status),
      [180],
    );
    clock.advance(60_000);
    assert.deepEqual(sender.instants('INVITE'), [0, 500]);
    assert.deepEqual(events, [], 'Timer B only guards the Calling state');
    assert.equal(tx.state, 'proceeding');
  });

  it('lets the TU give up a proceeding INVITE with terminate() (RFC 3261 §9.1)', () => {
    const { tx, invite, events } = start();
    layer.matchResponse(makeResponse(invite, 180), flowFor('udp'));
    tx.terminate();
    assert.deepEqual(events, ['terminated']);
    assert.equal(layer.counts.client, 0);
    assert.equal(layer.matchResponse(makeResponse(invite, 487), flowFor('udp')), false);
    assert.equal(clock.pending, 0);
  });

  it('ACKs a non-2xx final itself with the RFC 3261 §17.1.1.3 headers', () => {
    const invite = makeRequest({
      cseq: 7,
      uri: 'sip:bob@192.0.2.9:5070;transport=udp',
      extraHeaders: [
        'Route: <sip:proxy1.example.com;lr>',
        'Route: <sip:proxy2.example.com;lr>',
        'Subject: hi',
      ],
    });
    invite.prepend('Via', 'SIP/2.0/UDP 127.0.0.1:45060;branch=z9hG4bKtop');
    const { tx, responses } = start('udp', invite);
    const busy = makeResponse(invite, 486, 'busytag');
    layer.matchResponse(busy, flowFor('udp'));
    assert.equal(tx.state, 'completed');
    assert.equal(tx.cancelable, false);
    assert.deepEqual(
      responses.map((r) => r.status),
      [486],
    );

    const acks = sender.sent.filter((s) => s.message.startLine().startsWith('ACK'));
    assert.equal(acks.length, 1);
    const ack = acks[0].message as SipRequest;
    assert.deepEqual(acks[0].target, targetFor('udp'));
    assert.equal(ack.uri, 'sip:bob@192.0.2.9:5070;transport=udp');
    assert.deepEqual(ack.getAll('via'), ['SIP/2.0/UDP 127.0.0.1:45060;branch=z9hG4bKtop']);
    assert.equal(ack.get('call-id'), invite.get('call-id'));
    assert.equal(ack.get('from'), invite.get('from'));
    assert.equal(ack.toTag, 'busytag');
    assert.equal(ack.get('to'), busy.get('to'));
    assert.equal(ack.get('cseq'), '7 ACK');
    assert.deepEqual(ack.getAll('route'), ['<sip:proxy1.example.com;lr>', '<sip:proxy2.example.com;lr>']);
    assert.equal(ack.get('max-forwards'), '70');
    assert.equal(ack.has('subject'), false);
  });

  it('absorbs retransmitted non-2xx finals by re-sending the ACK, until Timer D (32 s)', () => {
    const { tx, invite, responses, events } = start();
    layer.matchResponse(makeResponse(invite, 486), flowFor('udp'));
    clock.advance(1000);
    assert.equal(layer.matchResponse(makeResponse(invite, 486), flowFor('udp')), true);
    assert.equal(responses.length, 1, 'a retransmission is not passed up');
    assert.deepEqual(sender.instants('ACK'), [0, 1000]);
    assert.deepEqual(sender.instants('INVITE'), [0], 'no Timer A after the final');
    clock.advanceTo(31_999);
    assert.equal(tx.state, 'completed');
    clock.advanceTo(32_000);
    assert.deepEqual(events, ['terminated']);
    assert.equal(layer.matchResponse(makeResponse(invite, 486), flowFor('udp')), false);
    assert.equal(layer.counts.client, 0);
  });

  it('terminates right after ACKing a non-2xx final on TCP (Timer D = 0)', () => {
    const { tx, invite, events } = start('tcp');
    layer.matchResponse(makeResponse(invite, 503), flowFor('tcp'));
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(events, ['terminated']);
    assert.deepEqual(sender.instants('ACK'), [0]);
    assert.equal(sender.sent[1].target.connectionId, undefined);
    assert.equal(layer.counts.client, 0);
  });

  it('passes every 2xx up through Accepted, also from other forks, until Timer M', () => {
    const { tx, invite, responses, events } = start();
    const flows: Flow[] = [];
    tx.on('response', (_r, flow) => flows.push(flow));
    layer.matchResponse(makeResponse(invite, 200, 'fork1'), flowFor('udp', 45071));
    assert.equal(tx.state, 'accepted');
    clock.advance(4000);
    assert.equal(layer.matchResponse(makeResponse(invite, 200, 'fork1'), flowFor('udp')), true);
    assert.equal(layer.matchResponse(makeResponse(invite, 200, 'fork2'), flowFor('udp')), true);
    assert.equal(layer.matchResponse(makeResponse(invite, 180, 'fork3'), flowFor('udp')), true);
    assert.deepEqual(
      responses.map((r) => `${r.status}/${r.toTag}`),
      ['200/fork1', '200/fork1', '200/fork2'],
    );
    assert.equal(flows[0].remotePort, 45071);
    assert.deepEqual(sender.instants('ACK'), [], 'the dialog layer ACKs a 2xx');
    assert.deepEqual(sender.instants('INVITE'), [0]);
    clock.advanceTo(31_999);
    assert.equal(tx.state, 'accepted');
    clock.advanceTo(32_000);
    assert.deepEqual(events, ['terminated']);
    assert.equal(layer.matchResponse(makeResponse(invite, 200, 'fork1'), flowFor('udp')), false);
  });

  it('does not give a response to CANCEL to the INVITE with the same branch', () => {
    const { tx, invite, responses } = start();
    layer.matchResponse(makeResponse(invite, 180), flowFor('udp'));
    const cancel = makeRequest({ method: 'CANCEL' });
    const cancelTx = layer.createClientTransaction(cancel, targetFor('udp'));
    const cancelResponses: number[] = [];
    cancelTx.on('response', (r) => cancelResponses.push(r.status));
    assert.equal(layer.matchResponse(makeResponse(cancel, 200), flowFor('udp')), true);
    assert.deepEqual(cancelResponses, [200]);
    assert.deepEqual(
      responses.map((r) => r.status),
      [180],
    );
    assert.equal(tx.state, 'proceeding');
  });

  it('ends with transport-error when the first send fails', async () => {
    sender.failNext = 1;
    const { tx, events } = start();
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(events, ['transport-error', 'terminated']);
    assert.equal(tx.state, 'terminated');
    assert.equal(layer.counts.client, 0);
    assert.equal(clock.pending, 0);
  });

  it('keeps timers safe from throwing listeners', () => {
    const { tx } = start();
    tx.on('timeout', () => {
      throw new Error('listener bug');
    });
    assert.doesNotThrow(() => clock.advance(32_000));
    assert.equal(tx.state, 'terminated');
  });
});
