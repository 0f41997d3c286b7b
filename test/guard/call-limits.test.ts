import * as assert from 'node:assert/strict';
import { ConcurrentCallLimiter } from '../../src/guard/call-limits';

describe('ConcurrentCallLimiter', () => {
  it('refuses a call beyond the per-user cap until one of the user’s calls ends', () => {
    const limiter = new ConcurrentCallLimiter({ perUser: 2, perSource: 0 });
    const first = limiter.acquire('1001', '198.51.100.1');
    const second = limiter.acquire('1001', '198.51.100.2');
    assert.ok(first.ok && second.ok);
    assert.deepEqual(limiter.acquire('1001', '198.51.100.3'), { ok: false, limit: 'perUser' });
    assert.equal(limiter.acquire('1002', '198.51.100.1').ok, true);
    first.release();
    // Releasing twice must not free a slot it no longer holds.
    first.release();
    assert.deepEqual(limiter.count('1001', '198.51.100.1'), { user: 1, source: 1 });
    assert.equal(limiter.acquire('1001', '198.51.100.3').ok, true);
    assert.deepEqual(limiter.acquire('1001', '198.51.100.3'), { ok: false, limit: 'perUser' });
  });

  it('refuses a call beyond the per-source cap whatever the user', () => {
    const limiter = new ConcurrentCallLimiter({ perUser: 0, perSource: 3 });
    const slots = ['1001', '1002', '1003'].map((user) => limiter.acquire(user, '203.0.113.5'));
    assert.ok(slots.every((s) => s.ok));
    assert.deepEqual(limiter.acquire('1004', '203.0.113.5'), { ok: false, limit: 'perSource' });
    assert.equal(limiter.acquire('1004', '203.0.113.6').ok, true);
  });

  it('does not cap at 0', () => {
    const limiter = new ConcurrentCallLimiter({ perUser: 0, perSource: 0 });
    for (let i = 0; i < 1000; i++) assert.equal(limiter.acquire('1001', '203.0.113.7').ok, true);
    assert.deepEqual(limiter.count('1001', '203.0.113.7'), { user: 1000, source: 1000 });
  });
});
