import assert from 'node:assert/strict';
import { generateBranch } from '../../../src/sipserver/transaction/branch';
import { InviteServerTransaction } from '../../../src/sipserver/transaction/invite-server-transaction';
import { NonInviteServerTransaction } from '../../../src/sipserver/transaction/non-invite-server-transaction';
import { TransactionLayer } from '../../../src/sipserver/transaction/transaction-layer';
import { FakeClock, FakeSender, flowFor, makeRequest, makeResponse, targetFor } from './fakes';

describe('transaction layer: matching and bookkeeping', () => {
  let clock: FakeClock;
  let sender: FakeSender;
  let layer: TransactionLayer;
  const udp = flowFor('udp');

  beforeEach(() => {
    clock = new FakeClock();
    sender = new FakeSender(clock);
    layer = new TransactionLayer({ sender, clock, timers: { t1: 500, t2: 4000, t4: 5000 } });
  });

  afterEach(() => layer.close());

  describe('server matching (RFC 3261 §17.2.3)', () => {
    it('matches on branch, sent-by and method, ACK going to the INVITE', () => {
      const tx = layer.createServerTransaction(makeRequest(), udp);
      tx.respond(makeResponse(tx.request, 486, 'x'));
      assert.deepEqual(layer.matchRequest(makeRequest(), udp), { kind: 'retransmission' });
      assert.deepEqual(layer.matchRequest(makeRequest({ sentBy: '127.0.0.1:45071' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(makeRequest({ sentBy: '127.0.0.1' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(makeRequest({ branch: 'z9hG4bKother' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(makeRequest({ method: 'BYE' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(makeRequest({ method: 'ACK', toTag: 'x' }), udp), {
        kind: 'ack-absorbed',
      });
    });

    it('creates the right kind and refuses duplicates and ACKs', () => {
      assert.ok(layer.createServerTransaction(makeRequest(), udp) instanceof InviteServerTransaction);
      assert.ok(
        layer.createServerTransaction(makeRequest({ method: 'OPTIONS' }), udp) instanceof
          NonInviteServerTransaction,
      );
      assert.throws(() => layer.createServerTransaction(makeRequest(), udp), /already exists/);
      assert.throws(() => layer.createServerTransaction(makeRequest({ method: 'ACK' }), udp), /ACK/);
      assert.deepEqual(layer.counts, { server: 2, client: 0 });
    });

    it('reports an unmatched ACK as one for a 2xx with no transaction', () => {
      assert.deepEqual(layer.matchRequest(makeRequest({ method: 'ACK', toTag: 'x' }), udp), {
        kind: 'ack-2xx',
        invite: null,
      });
    });
  });

  describe('CANCEL (RFC 3261 §9.2)', () => {
    it('finds the INVITE with the same branch and sent-by, and is a transaction of its own', () => {
      const invite = layer.createServerTransaction(makeRequest(), udp);
      const cancel = makeRequest({ method: 'CANCEL' });
      assert.equal(layer.findInviteForCancel(cancel), invite);
      assert.deepEqual(layer.matchRequest(cancel, udp), { kind: 'new' });
      const cancelTx = layer.createServerTransaction(cancel, udp);
      assert.ok(cancelTx instanceof NonInviteServerTransaction);
      cancelTx.respond(makeResponse(cancel, 200));
      assert.deepEqual(layer.matchRequest(makeRequest({ method: 'CANCEL' }), udp), {
        kind: 'retransmission',
      });
      assert.equal(invite.state, 'proceeding', 'the CANCEL did not touch the INVITE');
    });

    it('finds nothing for another branch, another sent-by, or a non-INVITE', () => {
      layer.createServerTransaction(makeRequest(), udp);
      layer.createServerTransaction(makeRequest({ method: 'MESSAGE', branch: 'z9hG4bKmsg' }), udp);
      assert.equal(layer.findInviteForCancel(makeRequest({ method: 'CANCEL', branch: 'z9hG4bKzzz' })), null);
      assert.equal(
        layer.findInviteForCancel(makeRequest({ method: 'CANCEL', sentBy: '192.0.2.1:5060' })),
        null,
      );
      assert.equal(layer.findInviteForCancel(makeRequest({ method: 'CANCEL', branch: 'z9hG4bKmsg' })), null);
    });
  });

  describe('RFC 2543 fallback (no magic cookie)', () => {
    const old = (spec: Parameters<typeof makeRequest>[0] = {}) => makeRequest({ branch: '2543abc', ...spec });

    it('matches retransmissions on Request-URI, tags, Call-ID, CSeq and top Via', () => {
      const tx = layer.createServerTransaction(old(), udp);
      assert.deepEqual(layer.matchRequest(old(), udp), { kind: 'retransmission' });
      assert.deepEqual(layer.matchRequest(old({ callId: 'other' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(old({ cseq: 2 }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(old({ fromTag: 'f2' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(old({ uri: 'sip:carol@example.com' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(old({ toTag: 'surprise' }), udp), { kind: 'new' });
      assert.deepEqual(layer.matchRequest(old({ sentBy: '192.0.2.1' }), udp), { kind: 'new' });
      assert.equal(layer.findInviteForCancel(old({ method: 'CANCEL' })), tx);
    });

    it('matches the ACK by the To-tag of the final response', () => {
      const tx = layer.createServerTransaction(old(), udp);
      tx.respond(makeResponse(tx.request, 404, 'nf'));
      assert.deepEqual(layer.matchRequest(old({ method: 'ACK', toTag: 'other' }), udp), {
        kind: 'ack-2xx',
        invite: null,
      });
      assert.equal(tx.state, 'completed');
      assert.deepEqual(layer.matchRequest(old({ method: 'ACK', toTag: 'nf' }), udp), {
        kind: 'ack-absorbed',
      });
      assert.equal(tx.state, 'confirmed');
    });
  });

  describe('client matching (RFC 3261 §17.1.3)', () => {
    it('returns false for responses no transaction owns', () => {
      const request = makeRequest({ method: 'OPTIONS', branch: generateBranch() });
      assert.equal(layer.matchResponse(makeResponse(request, 200), udp), false);
      layer.createClientTransaction(request, targetFor('udp'));
      const stray = makeResponse(makeRequest({ method: 'OPTIONS', branch: generateBranch() }), 200);
      assert.equal(layer.matchResponse(stray, udp), false);
      const noVia = makeResponse(request, 200);
      noVia.remove('via');
      assert.equal(layer.matchResponse(noVia, udp), false);
      const wrongMethod = makeResponse(request, 200);
      wrongMethod.set('CSeq', '1 INFO');
      assert.equal(layer.matchResponse(wrongMethod, udp), false);
      assert.equal(layer.matchResponse(makeResponse(request, 200), udp), true);
    });

    it('refuses ACKs, requests without a branch, and duplicate branches', () => {
      assert.throws(
        () => layer.createClientTransaction(makeRequest({ method: 'ACK' }), targetFor('udp')),
        /ACK/,
      );
      const noBranch = makeRequest({ method: 'OPTIONS' });
      noBranch.set('Via', 'SIP/2.0/UDP 127.0.0.1:45060');
      assert.throws(() => layer.createClientTransaction(noBranch, targetFor('udp')), /branch/);
      layer.createClientTransaction(makeRequest({ method: 'OPTIONS' }), targetFor('udp'));
      assert.throws(() =>
        layer.createClientTransaction(makeRequest({ method: 'OPTIONS' }), targetFor('udp')),
      );
    });
  });

  it('drops every transaction and timer once each flow has completed (no leak)', () => {
    for (let i = 0; i < 20; i++) {
      const protocol = i % 2 === 0 ? 'udp' : 'tcp';
      const flow = flowFor(protocol, 45100 + i);
      const branch = generateBranch();
      // Server INVITE rejected and ACKed, server INVITE answered 200, server MESSAGE, and CANCEL.
      const rejected = layer.createServerTransaction(makeRequest({ branch, callId: `r${i}` }), flow);
      rejected.respond(makeResponse(rejected.request, 486, 't'));
      layer.matchRequest(makeRequest({ branch, method: 'ACK', toTag: 't', callId: `r${i}` }), flow);
      const answered = layer.createServerTransaction(
        makeRequest({ branch: generateBranch(), callId: `a${i}` }),
        flow,
      );
      answered.respond(makeResponse(answered.request, 200));
      const message = layer.createServerTransaction(
        makeRequest({ method: 'MESSAGE', branch: generateBranch() }),
        flow,
      );
      message.respond(makeResponse(message.request, 202));
      const unanswered = layer.createServerTransaction(
        makeRequest({ branch: generateBranch(), callId: `u${i}` }),
        flow,
      );
      unanswered.respond(makeResponse(unanswered.request, 408));
      // Client: INVITE rejected, INVITE answered, OPTIONS answered, OPTIONS unanswered.
      const target = targetFor(protocol);
      for (const [method, status] of [
        ['INVITE', 603],
        ['INVITE', 200],
        ['OPTIONS', 200],
        ['OPTIONS', 0],
      ] as const) {
        const request = makeRequest({ method, branch: generateBranch() });
        layer.createClientTransaction(request, target);
        if (status > 0) layer.matchResponse(makeResponse(request, status), flow);
      }
    }
    assert.ok(layer.counts.server > 0 && layer.counts.client > 0);
    clock.advance(64 * 500);
    assert.deepEqual(layer.counts, { server: 0, client: 0 });
    assert.equal(clock.pending, 0);
  });

  it('close() stops every timer', () => {
    layer.createServerTransaction(makeRequest(), udp).respond(makeResponse(makeRequest(), 486));
    layer.createClientTransaction(makeRequest({ method: 'OPTIONS' }), targetFor('udp'));
    assert.ok(clock.pending > 0);
    layer.close();
    assert.equal(clock.pending, 0);
    assert.deepEqual(layer.counts, { server: 0, client: 0 });
  });
});
