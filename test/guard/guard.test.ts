import * as assert from 'node:assert/strict';
import { guardSchema, type GuardConfig } from '../../src/guard/config';
import { Guard, type BanInfo, type GuardDecision } from '../../src/guard/guard';
import { sourceKey } from '../../src/guard/source-key';
import type { Logger } from '../../src/logging';
import { parseMessage, SipRequest } from '../../src/sipserver/message';
import type { Flow } from '../../src/sipserver/transport/types';

interface LogLine {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

function captureLogger(lines: LogLine[]): Logger {
  const record =
    (level: string) =>
    (message: string, meta: Record<string, unknown> = {}) =>
      lines.push({ level, message, meta });
  return { warn: record('warn'), info: record('info') } as unknown as Logger;
}

function flow(remoteAddress: string, remotePort = 5062): Flow {
  return { protocol: 'udp', localAddress: '127.0.0.1', localPort: 5060, remoteAddress, remotePort };
}

let callCounter = 0;

function request(
  method: string,
  options: { user?: string; from?: string; userAgent?: string; toUser?: string } = {},
): SipRequest {
  const user = options.user ?? '1001';
  const lines = [
    `${method} sip:${options.toUser ?? user}@pinhole.test SIP/2.0`,
    'Via: SIP/2.0/UDP 192.168.1.50:5062;branch=z9hG4bK-' + ++callCounter,
    `From: ${options.from ?? `<sip:${user}@pinhole.test>`};tag=f${callCounter}`,
    `To: <sip:${options.toUser ?? user}@pinhole.test>`,
    `Call-ID: call-${callCounter}`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
  ];
  if (options.userAgent) lines.push(`User-Agent: ${options.userAgent}`);
  lines.push('Content-Length: 0', '', '');
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

describe('Guard', () => {
  let now: number;
  let lines: LogLine[];
  let guard: Guard;

  function makeGuard(overrides: Record<string, unknown> = {}): Guard {
    const config: GuardConfig = guardSchema.parse(overrides);
    guard = new Guard(config, captureLogger(lines), { now: () => now, sweepIntervalMs: 0 });
    return guard;
  }

  beforeEach(() => {
    now = 1_700_000_000_000;
    lines = [];
  });

  afterEach(() => guard?.close());

  describe('defaults', () => {
    it('never limit a phone that re-registers, answers keepalives and calls a few times a minute', () => {
      makeGuard();
      const phone = flow('203.0.113.10');
      // Ten minutes: REGISTER + challenge every 60 s, a keepalive answer every 30 s, 6 calls a minute.
      for (let second = 0; second < 600; second++) {
        now += 1000;
        if (second % 60 === 0)
          for (let i = 0; i < 2; i++) {
            assert.equal(guard.sourceAllowed(phone), true);
            assert.deepEqual(guard.admit(request('REGISTER'), phone), { action: 'accept' });
          }
        if (second % 30 === 0) assert.equal(guard.sourceAllowed(phone), true);
        if (second % 10 === 0)
          for (let i = 0; i < 2; i++) {
            assert.equal(guard.sourceAllowed(phone), true);
            assert.deepEqual(guard.admit(request('INVITE'), phone), { action: 'accept' });
          }
      }
      const stats = guard.stats();
      assert.equal(stats.decisions.drop + stats.decisions.reject, 0);
      assert.deepEqual(stats.bans, []);
    });
  });

  describe('rate limits', () => {
    it('answers 503 with Retry-After past the REGISTER burst and refills at the configured rate', () => {
      makeGuard({ rates: { register: { perSecond: 2, burst: 5 } }, retryAfterSeconds: 17 });
      const source = flow('198.51.100.7');
      for (let i = 0; i < 5; i++) assert.equal(guard.admit(request('REGISTER'), source).action, 'accept');
      assert.deepEqual(guard.admit(request('REGISTER'), source), {
        action: 'reject',
        status: 503,
        reason: 'Service Unavailable',
        headers: { 'Retry-After': '17' },
      });
      now += 1000;
      assert.equal(guard.admit(request('REGISTER'), source).action, 'accept');
      assert.equal(guard.admit(request('REGISTER'), source).action, 'accept');
      assert.equal(guard.admit(request('REGISTER'), source).action, 'reject');
      assert.equal(guard.stats().reasons['rate-register'], 2);
    });

    it('keeps REGISTER, INVITE and other requests in separate buckets; other requests over rate are dropped', () => {
      makeGuard({
        rates: {
          register: { perSecond: 1, burst: 2 },
          invite: { perSecond: 1, burst: 3 },
          other: { perSecond: 1, burst: 1 },
        },
      });
      const source = flow('198.51.100.8');
      for (let i = 0; i < 2; i++) assert.equal(guard.admit(request('REGISTER'), source).action, 'accept');
      assert.equal(guard.admit(request('REGISTER'), source).action, 'reject');
      for (let i = 0; i < 3; i++) assert.equal(guard.admit(request('INVITE'), source).action, 'accept');
      assert.equal(guard.admit(request('INVITE'), source).action, 'reject');
      assert.equal(guard.admit(request('OPTIONS'), source).action, 'accept');
      assert.deepEqual(guard.admit(request('OPTIONS'), source), { action: 'drop' });
      // Another source has its own buckets.
      assert.equal(guard.admit(request('REGISTER'), flow('198.51.100.9')).action, 'accept');
    });

    it('drops packets past the per-source packet rate before parsing', () => {
      makeGuard({ rates: { packets: { perSecond: 10, burst: 20 } } });
      const source = flow('198.51.100.10');
      let allowed = 0;
      for (let i = 0; i < 50; i++) if (guard.sourceAllowed(source)) allowed++;
      assert.equal(allowed, 20);
      assert.equal(guard.stats().reasons['rate-packets'], 30);
      now += 500;
      assert.equal(guard.sourceAllowed(source), true);
    });

    it('bans a source that keeps exceeding its rate, drops it silently, and lets it back after the ban', () => {
      makeGuard({
        rates: { invite: { perSecond: 1, burst: 1 } },
        ban: { seconds: 60, rateStrikes: 5, windowSeconds: 10 },
      });
      const bans: BanInfo[] = [];
      guard.on('ban', (ban: BanInfo) => bans.push(ban));
      const source = flow('198.51.100.11', 40001);
      assert.equal(guard.admit(request('INVITE'), source).action, 'accept');
      for (let i = 0; i < 4; i++) assert.equal(guard.admit(request('INVITE'), source).action, 'reject');
      // The fifth strike bans: no answer, not even a 503.
      assert.deepEqual(guard.admit(request('INVITE'), source), { action: 'drop' });
      assert.equal(bans.length, 1);
      assert.equal(bans[0].reason, 'rate');
      assert.equal(bans[0].until, now + 60_000);
      // Any port of the same address is banned.
      assert.equal(guard.sourceAllowed(flow('198.51.100.11', 40002)), false);
      assert.equal(guard.stats().reasons.banned, 1);
      assert.deepEqual(
        guard.bans().map((b) => b.source),
        ['198.51.100.11'],
      );
      now += 60_000;
      assert.equal(guard.sourceAllowed(source), true);
      assert.equal(guard.admit(request('INVITE'), source).action, 'accept');
      assert.deepEqual(guard.bans(), []);
    });

    it('logs one line per ban and one over-rate line per window, not one per packet', () => {
      makeGuard({
        rates: { packets: { perSecond: 1, burst: 1 } },
        ban: { rateStrikes: 500, windowSeconds: 60 },
      });
      const source = flow('198.51.100.12');
      for (let i = 0; i < 2000; i++) guard.sourceAllowed(source);
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.deepEqual(
        warnings.map((l) => l.message),
        ['guard: source over rate', 'guard: source banned'],
      );
      assert.equal(warnings[1].meta.source, '198.51.100.12');
      assert.equal(guard.stats().decisions.drop, 1999);
    });
  });

  describe('scanners', () => {
    it('drops and bans a source announcing a scanner in User-Agent, case-insensitively', () => {
      makeGuard();
      const decisions: GuardDecision[] = [];
      guard.on('decision', (d: GuardDecision) => decisions.push(d));
      const source = flow('192.0.2.66');
      assert.deepEqual(guard.admit(request('OPTIONS', { userAgent: 'Friendly-Scanner' }), source), {
        action: 'drop',
      });
      assert.deepEqual(decisions, [
        { action: 'drop', reason: 'scanner', source: '192.0.2.66', method: 'OPTIONS' },
      ]);
      assert.equal(guard.sourceAllowed(source), false);
      assert.equal(guard.bans()[0].reason, 'scanner');
    });

    it('recognises SIPVicious by its From display name and leaves ordinary phones alone', () => {
      makeGuard();
      const scanner = flow('192.0.2.67');
      assert.equal(
        guard.admit(request('INVITE', { from: '"sipvicious"<sip:100@1.1.1.1>' }), scanner).action,
        'drop',
      );
      const phone = flow('192.0.2.68');
      const ordinary = request('INVITE', {
        userAgent: 'Yealink SIP-T46S 66.86.0.15',
        from: '"Alice" <sip:1001@pinhole.test>',
      });
      assert.equal(guard.admit(ordinary, phone).action, 'accept');
      assert.deepEqual(
        guard.bans().map((b) => b.source),
        ['192.0.2.67'],
      );
    });

    it('with ban.scanners off drops scanner requests without banning the source', () => {
      makeGuard({ ban: { scanners: false }, scanners: ['my-scanner'] });
      const source = flow('192.0.2.69');
      assert.equal(guard.admit(request('OPTIONS', { userAgent: 'My-Scanner 1.0' }), source).action, 'drop');
      assert.equal(
        guard.admit(request('OPTIONS', { userAgent: 'friendly-scanner' }), source).action,
        'accept',
      );
      assert.equal(guard.sourceAllowed(source), true);
      assert.deepEqual(guard.bans(), []);
    });
  });

  describe('bad input', () => {
    it('bans a source after ban.badInput unparsable messages within the window', () => {
      makeGuard({ ban: { badInput: 5, windowSeconds: 10 } });
      const source = flow('192.0.2.70');
      for (let i = 0; i < 4; i++) guard.badInput(source);
      now += 10_000;
      // A new window: the earlier four no longer count.
      for (let i = 0; i < 4; i++) guard.badInput(source);
      assert.equal(guard.sourceAllowed(source), true);
      guard.badInput(source);
      assert.equal(guard.sourceAllowed(source), false);
      assert.equal(guard.bans()[0].reason, 'bad-input');
      assert.equal(guard.stats().badInput, 9);
    });
  });

  describe('authentication failures', () => {
    it('bans a source after authFailures.perSource 403s; challenges are not failures', () => {
      makeGuard({ authFailures: { perSource: 3, perUser: 0 } });
      const source = flow('192.0.2.80');
      for (let i = 0; i < 10; i++) guard.answered(request('REGISTER'), 401, source);
      guard.answered(request('INVITE'), 407, source);
      assert.equal(guard.sourceAllowed(source), true);
      guard.answered(request('REGISTER', { user: '1001' }), 403, source);
      guard.answered(request('REGISTER', { user: '1002' }), 403, source);
      assert.equal(guard.sourceAllowed(source), true);
      guard.answered(request('INVITE', { user: '1003' }), 403, source);
      assert.equal(guard.sourceAllowed(source), false);
      assert.equal(guard.bans()[0].reason, 'auth-failures');
      assert.equal(guard.stats().authFailures, 3);
    });

    it('locks a user attacked from many sources; the phone that logged in before keeps working', () => {
      makeGuard({ authFailures: { perSource: 0, perUser: 5, windowSeconds: 60 }, ban: { seconds: 120 } });
      const phone = flow('192.0.2.90');
      guard.answered(request('REGISTER', { user: '1001' }), 200, phone);
      for (let i = 0; i < 5; i++)
        guard.answered(request('REGISTER', { user: '1001' }), 403, flow(`198.18.0.${i + 1}`));
      assert.deepEqual(
        guard.stats().lockedUsers.map((l) => l.user),
        ['1001'],
      );
      // A new source may not try the locked user, by REGISTER (To user) or INVITE (From user)...
      assert.equal(guard.admit(request('REGISTER', { user: '1001' }), flow('198.18.0.99')).action, 'drop');
      assert.equal(guard.admit(request('INVITE', { user: '1001' }), flow('198.18.0.99')).action, 'drop');
      // ...but other users, and the phone that has proved itself, are not affected.
      assert.equal(guard.admit(request('REGISTER', { user: '1002' }), flow('198.18.0.99')).action, 'accept');
      assert.equal(guard.admit(request('REGISTER', { user: '1001' }), phone).action, 'accept');
      assert.equal(guard.stats().reasons['user-locked'], 2);
      now += 120_000;
      guard.sweep();
      assert.equal(guard.admit(request('REGISTER', { user: '1001' }), flow('198.18.0.99')).action, 'accept');
      assert.deepEqual(guard.stats().lockedUsers, []);
    });
  });

  describe('trusted networks', () => {
    it('never limits, bans or counts a trusted source', () => {
      makeGuard({
        trusted: ['10.0.0.0/8', '2001:db8:1::/48'],
        rates: { invite: { perSecond: 1, burst: 1 }, packets: { perSecond: 1, burst: 1 } },
        ban: { badInput: 1 },
        authFailures: { perSource: 1 },
      });
      for (const address of ['10.1.2.3', '2001:db8:1::5']) {
        const pbx = flow(address);
        for (let i = 0; i < 100; i++) {
          assert.equal(guard.sourceAllowed(pbx), true);
          assert.equal(
            guard.admit(request('INVITE', { userAgent: 'friendly-scanner' }), pbx).action,
            'accept',
          );
          guard.badInput(pbx);
          guard.answered(request('INVITE'), 403, pbx);
        }
      }
      const stats = guard.stats();
      assert.deepEqual(stats.bans, []);
      assert.equal(stats.trackedSources, 0);
      assert.equal(stats.decisions.accept, 200);
    });
  });

  describe('memory', () => {
    it('tracks at most maxSources sources, forgetting the least recently seen', () => {
      makeGuard({
        maxSources: 100,
        rates: { packets: { perSecond: 1, burst: 1500 } },
        ban: { rateStrikes: 0 },
      });
      const first = flow('100.64.0.1');
      for (let i = 0; i < 1000; i++) {
        guard.sourceAllowed(flow(`100.64.${(i >> 8) + 1}.${i & 255}`));
        // Seen all along, so never the least recently seen.
        guard.sourceAllowed(first);
      }
      assert.equal(guard.stats().trackedSources, 100);
      // Its bucket survived with 500 of 1500 tokens; a forgotten source would start with 1500.
      let allowed = 0;
      for (let i = 0; i < 600; i++) if (guard.sourceAllowed(first)) allowed++;
      assert.equal(allowed, 500);
    });

    it('bounds the ban list and sweeps idle sources and expired bans', () => {
      makeGuard({ maxBans: 100, ban: { badInput: 1, seconds: 60 }, idleSeconds: 30 });
      for (let i = 0; i < 300; i++) guard.badInput(flow(`100.65.${i >> 8}.${i & 255}`));
      assert.equal(guard.bans().length, 100);
      guard.sourceAllowed(flow('100.66.0.1'));
      assert.equal(guard.stats().trackedSources, 1);
      now += 60_000;
      guard.sweep();
      const stats = guard.stats();
      assert.equal(stats.bans.length, 0);
      assert.equal(stats.trackedSources, 0);
      assert.equal(lines.filter((l) => l.message === 'guard: ban expired').length, 100);
    });
  });

  it('groups IPv6 sources by /64 and IPv4-mapped addresses with IPv4', () => {
    assert.equal(sourceKey('2001:db8:a:b:1:2:3:4'), '2001:db8:a:b::/64');
    assert.equal(sourceKey('2001:0db8:000a:000b::99'), '2001:db8:a:b::/64');
    assert.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(sourceKey('::1'), '0:0:0:0::/64');
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('192.0.2.1'), '192.0.2.1');
    makeGuard();
    guard.admit(request('OPTIONS', { userAgent: 'sipcli/v1.8' }), flow('2001:db8:a:b::1'));
    assert.equal(guard.sourceAllowed(flow('2001:db8:a:b:ffff::2')), false);
    assert.equal(guard.sourceAllowed(flow('2001:db8:a:c::1')), true);
  });

  it('unban lifts a ban at once', () => {
    makeGuard();
    guard.admit(request('OPTIONS', { userAgent: 'sipvicious' }), flow('192.0.2.99'));
    assert.equal(guard.unban('192.0.2.99'), true);
    assert.equal(guard.unban('192.0.2.99'), false);
    assert.equal(guard.sourceAllowed(flow('192.0.2.99')), true);
  });

  it('does nothing when disabled', () => {
    makeGuard({ enabled: false, rates: { register: { perSecond: 1, burst: 1 } } });
    const source = flow('192.0.2.100');
    for (let i = 0; i < 10; i++) {
      assert.equal(
        guard.admit(request('REGISTER', { userAgent: 'friendly-scanner' }), source).action,
        'accept',
      );
      guard.badInput(source);
    }
    assert.deepEqual(guard.bans(), []);
    assert.equal(guard.stats().trackedSources, 0);
  });
});
