import assert from 'node:assert/strict';
import { Retransmitter } from '../../../src/sipserver/core/retransmitter';
import { FakeClock } from '../transaction/fakes';

const TIMERS = { t1: 500, t2: 4000, t4: 5000 };

function run(unreliable: boolean, capAtT2: boolean, stopAt?: number) {
  const clock = new FakeClock();
  const sends: number[] = [];
  let gaveUpAt: number | null = null;
  const r = new Retransmitter(clock, TIMERS, {
    unreliable,
    capAtT2,
    resend: () => sends.push(clock.now()),
    giveUp: () => (gaveUpAt = clock.now()),
  });
  if (stopAt !== undefined) {
    clock.advance(stopAt);
    r.stop();
  }
  clock.advance(40_000);
  return { sends, gaveUpAt };
}

describe('2xx and reliable provisional retransmission', () => {
  it('resends a 2xx at T1, doubling, capped at T2, and gives up at 64*T1 (RFC 3261 §13.3.1.4)', () => {
    const { sends, gaveUpAt } = run(true, true);
    assert.deepEqual(sends.slice(0, 6), [500, 1500, 3500, 7500, 11500, 15500]);
    assert.ok(sends.every((t) => t < 32_000));
    assert.equal(gaveUpAt, 32_000);
  });

  it('doubles without a cap for reliable provisionals (RFC 3262 §3)', () => {
    const { sends, gaveUpAt } = run(true, false);
    assert.deepEqual(sends, [500, 1500, 3500, 7500, 15500, 31500]);
    assert.equal(gaveUpAt, 32_000);
  });

  it('sends nothing on a reliable transport but still gives up at 64*T1', () => {
    const { sends, gaveUpAt } = run(false, true);
    assert.deepEqual(sends, []);
    assert.equal(gaveUpAt, 32_000);
  });

  it('stops when the ACK or PRACK arrives', () => {
    const { sends, gaveUpAt } = run(true, true, 2000);
    assert.deepEqual(sends, [500, 1500]);
    assert.equal(gaveUpAt, null);
  });
});
