import assert from 'node:assert/strict';
import { mediaSchema } from '../../../src/nat/config';
import { logLevelOf, rtpengineArgs } from '../../../src/nat/rtpengine-process';
import { legStats, parseNgAddress, RtpenginePool } from '../../../src/nat/rtpengine-pool';

describe('mediaSchema', () => {
  it('fills defaults and names interfaces given as plain addresses', () => {
    const media = mediaSchema.parse({
      rtpengine: { interfaces: { external: '203.0.113.1', internal: '10.0.0.1' } },
    });
    assert.equal(media.anchor, 'nat');
    assert.equal(media.latching, 'strict-source');
    assert.deepEqual(media.rtpengine.interfaces, {
      external: { name: 'external', address: '203.0.113.1' },
      internal: { name: 'internal', address: '10.0.0.1' },
    });
    assert.deepEqual(media.rtpengine.ports, { min: 30000, max: 40000 });
    assert.deepEqual(media.rtpengine.ng, ['127.0.0.1:22222']);
    assert.equal(media.rtpengine.spawn, false);
  });

  it('parses a port range and refuses reversed or out-of-range ones', () => {
    const base = { interfaces: { external: 'a', internal: 'b' } };
    assert.deepEqual(mediaSchema.parse({ rtpengine: { ...base, ports: '42000-42999' } }).rtpengine.ports, {
      min: 42000,
      max: 42999,
    });
    for (const ports of ['5000-4000', '80-90', '30000-70000', '30000'])
      assert.equal(mediaSchema.safeParse({ rtpengine: { ...base, ports } }).success, false, ports);
  });

  it('refuses unknown anchor policies, bad CIDRs and bad ng addresses', () => {
    const rtpengine = { interfaces: { external: 'a', internal: 'b' } };
    assert.equal(mediaSchema.safeParse({ anchor: 'sometimes', rtpengine }).success, false);
    assert.equal(mediaSchema.safeParse({ localNetworks: ['10.0.0.0/40'], rtpengine }).success, false);
    assert.equal(mediaSchema.safeParse({ rtpengine: { ...rtpengine, ng: ['localhost'] } }).success, false);
  });
});

describe('rtpengine command line and log levels', () => {
  it('builds a self-contained command line', () => {
    assert.deepEqual(
      rtpengineArgs({
        interfaces: [
          { name: 'external', address: '203.0.113.1' },
          { name: 'internal', address: '10.0.0.1' },
        ],
        ng: { host: '127.0.0.1', port: 2223 },
        ports: { min: 30000, max: 30999 },
      }),
      [
        '--config-file=none',
        '--table=-1',
        '--foreground',
        '--log-stderr',
        '--log-level=4',
        '--interface=external/203.0.113.1',
        '--interface=internal/10.0.0.1',
        '--listen-ng=127.0.0.1:2223',
        '--port-min=30000',
        '--port-max=30999',
        '--delete-delay=0',
      ],
    );
  });

  it('asks rtpengine for its per-call lines only when verbose', () => {
    const args = (verbose: boolean) =>
      rtpengineArgs({
        interfaces: [{ name: 'external', address: '203.0.113.1' }],
        ng: { host: '127.0.0.1', port: 2223 },
        ports: { min: 30000, max: 30999 },
        verbose,
      });
    assert.ok(args(true).includes('--log-level=6'));
    assert.ok(args(false).includes('--log-level=4'));
  });

  it('maps rtpengine log markers to winston levels', () => {
    assert.equal(logLevelOf('[1.2] ERR: [core] FAILED TO CREATE KERNEL TABLE 0'), 'error');
    assert.equal(logLevelOf("[1.2] WARNING: [core] Unknown flag encountered: 'symmetric'"), 'warn');
    assert.equal(logLevelOf('[1.2] NOTICE: [x1]: [core] Creating new call'), 'debug');
    assert.equal(logLevelOf('[1.2] INFO: [control] Received command'), 'debug');
    assert.equal(logLevelOf('no marker'), 'debug');
  });
});

describe('ng pool helpers', () => {
  it('parses ng addresses, IPv6 in brackets included', () => {
    assert.deepEqual(parseNgAddress('127.0.0.1:22222'), { host: '127.0.0.1', port: 22222 });
    assert.deepEqual(parseNgAddress('[::1]:2223'), { host: '::1', port: 2223 });
    assert.throws(() => parseNgAddress('127.0.0.1'), /invalid ng address/);
    assert.throws(() => parseNgAddress('h:0'), /invalid ng address/);
  });

  it('turns a query reply into per-leg stream stats', () => {
    const reply = {
      result: 'ok',
      tags: {
        'phone-tag': {
          medias: [
            {
              streams: [
                {
                  'local port': 30000,
                  endpoint: { family: 'IPv4', address: '203.0.113.10', port: 4000 },
                  'advertised endpoint': { family: 'IPv4', address: '192.168.1.10', port: 4000 },
                  flags: ['RTP', 'filled', 'confirmed'],
                  stats: { packets: 300, bytes: 51600, errors: 0 },
                },
              ],
            },
          ],
        },
      },
    };
    assert.deepEqual(legStats(reply), [
      {
        tag: 'phone-tag',
        streams: [
          {
            localPort: 30000,
            endpoint: '203.0.113.10:4000',
            advertised: '192.168.1.10:4000',
            confirmed: true,
            packets: 300,
            bytes: 51600,
            errors: 0,
          },
        ],
      },
    ]);
  });

  it('reports "no rtpengine answered" within the timeout when nobody listens', async () => {
    // Port 9 (discard) on loopback has no listener: the ng request simply goes unanswered.
    const pool = new RtpenginePool(['127.0.0.1:9'], { timeoutMs: 200, pingIntervalMs: 60_000 });
    try {
      await assert.rejects(
        pool.offer({
          'call-id': 'x',
          'from-tag': 'a',
          replace: ['origin', 'session-connection'],
          ICE: 'remove',
          'rtcp-mux': ['demux'],
          sdp: 'v=0\r\n',
        }),
        /no rtpengine answered offer for call x within 200 ms \(tried 127\.0\.0\.1:9\)/,
      );
      assert.deepEqual(pool.health(), [{ endpoint: '127.0.0.1:9', healthy: false }]);
      await pool.delete('x');
    } finally {
      pool.close();
    }
  });
});
