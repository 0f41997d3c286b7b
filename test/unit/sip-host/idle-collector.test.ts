import assert from 'node:assert/strict';
import { IdleCollector, type SipActivity } from '../../../src/sip-host/idle-collector';

describe('IdleCollector', () => {
  const options = { intervalMs: 1000, quietMessages: 100, growthBytes: 1 << 30, endedTransactions: 50 };

  it('collects once traffic is quiet and many transactions have ended since the last look', () => {
    const activity: SipActivity = { messages: 0, transactions: 0 };
    const collector = new IdleCollector(() => activity, options);
    // A storm: busy, transactions piling up. No collection while it lasts.
    activity.messages = 5000;
    activity.transactions = 400;
    assert.equal(collector.check(), false);
    // Quiet, but the transactions are still alive: nothing to gain yet.
    activity.messages += 10;
    assert.equal(collector.check(), false);
    // Quiet and 390 transactions ended: their garbage is collected.
    activity.messages += 10;
    activity.transactions = 10;
    assert.equal(collector.check(), true);
    // Nothing ended since: no second collection.
    assert.equal(collector.check(), false);
  });

  it('leaves collection to V8 while traffic is busy, however much ended', () => {
    const activity: SipActivity = { messages: 0, transactions: 1000 };
    const collector = new IdleCollector(() => activity, options);
    assert.equal(collector.check(), false);
    activity.messages += 5000;
    activity.transactions = 0;
    assert.equal(collector.check(), false);
  });

  it('collects when the heap grew past the threshold on a quiet server', () => {
    const activity: SipActivity = { messages: 0, transactions: 0 };
    const collector = new IdleCollector(() => activity, { ...options, growthBytes: 1 });
    const garbage = Array.from({ length: 20_000 }, (_, i) => ({ i, text: `entry ${i}` }));
    assert.equal(garbage.length, 20_000);
    assert.equal(collector.check(), true);
  });
});
