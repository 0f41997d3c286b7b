/**
 * Issue 10 acceptance: Pinhole (the whole product, guard at its defaults) is flooded from
 * 127.0.0.5-9 while SIPp phones on 127.0.0.1 keep registering and calling through it to a SIPp
 * PBX. Each flood is bounded in count and time:
 *   127.0.0.5  garbage datagrams                          -> banned for bad input
 *   127.0.0.6  INVITEs and OPTIONS from "friendly-scanner", many source ports -> banned as scanner
 *   127.0.0.7  wrong-password REGISTERs for 1002 (SIPp)   -> banned for auth failures
 *   127.0.0.8  the same                                   -> banned; together they lock user 1002
 *   127.0.0.9  REGISTERs as fast as the socket goes       -> banned for rate
 * The real 1002 had registered from 127.0.0.1 before, so the lock does not keep it out.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { startPbxWithoutRtp } from '../support/answering-pbx';
import { startTestPinhole, type TestPinhole } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { runSipp, type SippResult, type SippServer } from '../support/sipp';

const LEGIT_CALLS = 100;
const LEGIT_REGISTRATIONS = 40;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function openSockets(address: string, count: number): Promise<dgram.Socket[]> {
  return Promise.all(
    [...Array(count)].map(
      () =>
        new Promise<dgram.Socket>((resolve, reject) => {
          const socket = dgram.createSocket('udp4');
          socket.once('error', reject);
          socket.bind(0, address, () => resolve(socket));
        }),
    ),
  );
}

/** Sends `total` datagrams made by `make`, `perTick` at a time every 10 ms, round robin over sockets. */
async function flood(
  address: string,
  sockets: number,
  target: number,
  total: number,
  make: (i: number, port: number) => Buffer,
): Promise<void> {
  const open = await openSockets(address, sockets);
  const perTick = 50;
  try {
    for (let sent = 0; sent < total; sent += perTick) {
      for (let i = sent; i < Math.min(total, sent + perTick); i++) {
        const socket = open[i % open.length];
        socket.send(make(i, socket.address().port), target, '127.0.0.1');
      }
      await delay(10);
    }
  } finally {
    await Promise.all(open.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function sipRequest(method: string, source: string, port: number, i: number, extra: string[]): Buffer {
  return Buffer.from(
    [
      `${method} sip:100@127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/UDP ${source}:${port};branch=z9hG4bK-flood-${i};rport`,
      `From: <sip:100@${source}>;tag=flood${i}`,
      'To: <sip:100@127.0.0.1>',
      `Call-ID: flood-${source}-${i}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:100@${source}:${port}>`,
      'Max-Forwards: 70',
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

function garbage(i: number): Buffer {
  const bytes = Buffer.alloc(200 + (i % 300));
  for (let j = 0; j < bytes.length; j++) bytes[j] = (i * 31 + j * 17) & 0xff;
  return i % 2 === 0
    ? bytes
    : Buffer.from(`INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n${bytes.toString('hex')}\r\n\r\n`);
}

function rate(result: SippResult, expected: number): number {
  return result.successfulCalls / expected;
}

describe('flood and scanner protection (issue 10)', function () {
  this.timeout(180000);
  let pinhole: TestPinhole | undefined;
  let pbx: SippServer | undefined;

  afterEach(async () => {
    await pbx?.stop();
    await pinhole?.stop();
    await stopAll();
    pinhole = undefined;
    pbx = undefined;
  });

  it('keeps at least 99 % of legitimate calls and registrations working while the flood sources get banned', async () => {
    const pbxPort = await allocatePort();
    // Defaults, except that loopback (where this test's flood comes from) is not trusted.
    pinhole = await startTestPinhole({ pbxPort, guard: { trusted: [] } });
    const remote = `127.0.0.1:${pinhole.sipPort}`;
    pbx = await startPbxWithoutRtp(pbxPort);
    const registerPort = await allocatePort();
    const registerOnce = (calls: number, rateCps?: number) =>
      runSipp({
        scenario: 'phone-register-auth.xml',
        remote,
        localPort: registerPort,
        service: '1002',
        calls,
        rate: rateCps,
        timeoutMs: 60000,
        keys: { sdp_ip: '192.168.77.11', expires: '300' },
        extraArgs: ['-au', '1002', '-ap', 'secret1002'],
      });
    const first = await registerOnce(1);
    assert.equal(first.successfulCalls, 1, first.messages);
    const rssBefore = process.memoryUsage().rss;

    const calls = runSipp({
      scenario: 'uac-call-auth.xml',
      remote,
      localPort: await allocatePort(),
      service: '2000',
      calls: LEGIT_CALLS,
      rate: 5,
      timeoutMs: 90000,
      keys: { caller: '1001' },
      extraArgs: ['-au', '1001', '-ap', 'secret1001'],
    });
    const registrations = registerOnce(LEGIT_REGISTRATIONS, 2);
    const bruteForce = (address: string) =>
      runSipp({
        scenario: 'registrar-wrong-password.xml',
        remote,
        localAddress: address,
        localPort: 0,
        service: '1002',
        calls: 15,
        rate: 10,
        timeoutMs: 15000,
        extraArgs: ['-au', '1002', '-ap', 'not-the-password'],
      });
    const floods = Promise.all([
      flood('127.0.0.5', 4, pinhole.sipPort, 400, garbage),
      flood('127.0.0.6', 20, pinhole.sipPort, 1000, (i, port) =>
        sipRequest(i % 2 ? 'INVITE' : 'OPTIONS', '127.0.0.6', port, i, ['User-Agent: friendly-scanner']),
      ),
      bruteForce('127.0.0.7'),
      bruteForce('127.0.0.8'),
      flood('127.0.0.9', 2, pinhole.sipPort, 3000, (i, port) =>
        sipRequest('REGISTER', '127.0.0.9', port, i, ['User-Agent: Generic/1.0']),
      ),
    ]);
    const [callResult, registerResult] = await Promise.all([calls, registrations, floods]);

    assert.ok(
      rate(callResult, LEGIT_CALLS) >= 0.99,
      `calls: ${callResult.successfulCalls}/${LEGIT_CALLS}\n${callResult.errors.slice(-4000)}`,
    );
    assert.ok(
      rate(registerResult, LEGIT_REGISTRATIONS) >= 0.99,
      `registrations: ${registerResult.successfulCalls}/${LEGIT_REGISTRATIONS}\n${registerResult.errors.slice(-4000)}`,
    );

    const stats = (await pinhole.running.guardStats())!;
    assert.ok(stats, 'startPinhole exposes the guard');
    const banned = new Map(stats.bans.map((b) => [b.source, b.reason]));
    assert.deepEqual(
      Object.fromEntries([...banned].sort()),
      {
        '127.0.0.5': 'bad-input',
        '127.0.0.6': 'scanner',
        '127.0.0.7': 'auth-failures',
        '127.0.0.8': 'auth-failures',
        '127.0.0.9': 'rate',
      },
      JSON.stringify(stats),
    );
    assert.deepEqual(
      stats.lockedUsers.map((l) => l.user),
      ['1002'],
    );
    assert.ok(
      (await pinhole.running.sipServer!.refreshStats()).guarded > 1000,
      'the flood was turned away by the guard',
    );
    // Memory: only the sources seen are tracked, and the process did not grow out of bounds.
    assert.ok(stats.trackedSources <= 8, `tracked sources: ${stats.trackedSources}`);
    const grownMb = (process.memoryUsage().rss - rssBefore) / 1e6;
    assert.ok(grownMb < 150, `RSS grew by ${grownMb.toFixed(0)} MB`);
  });
});
