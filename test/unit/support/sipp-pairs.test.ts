import assert from 'node:assert/strict';
import { allocatePort } from '../../support/ports';
import { stopAll } from '../../support/processes';
import {
  parseMessageLog,
  runSipp,
  startSippServer,
  type SippOptions,
  type SippResult,
} from '../../support/sipp';

/**
 * Every scenario in test/scenarios against its SIPp counterpart on loopback, with nothing in
 * between, over UDP and TCP: if these pass, a failure against Pinhole is Pinhole's.
 */
interface Pair {
  uas: string;
  uac: string;
  keys?: (uacPort: number) => Record<string, string>;
  extraArgs?: string[];
}

const pairs: Pair[] = [
  { uas: 'uas-options.xml', uac: 'uac-options.xml' },
  { uas: 'uas-message.xml', uac: 'uac-message.xml' },
  {
    uas: 'uas-registrar-rport.xml',
    uac: 'uac-register.xml',
    keys: (uacPort) => ({ nat_ip: '127.0.0.1', nat_port: String(uacPort) }),
  },
  { uas: 'uas-answer-wait-bye.xml', uac: 'uac-call-bye.xml' },
  { uas: 'uas-answer-send-bye.xml', uac: 'uac-call-wait-bye.xml' },
  { uas: 'uas-ring-expect-cancel.xml', uac: 'uac-cancel.xml' },
  { uas: 'uas-busy.xml', uac: 'uac-expect-busy.xml' },
  { uas: 'uas-prack-183.xml', uac: 'uac-prack.xml' },
  { uas: 'uas-answer-accept-reinvite.xml', uac: 'uac-reinvite-hold.xml' },
  { uas: 'uas-answer-reinvite-hold.xml', uac: 'uac-call-accept-reinvite.xml' },
  { uas: 'uas-early-accept-update.xml', uac: 'uac-update-early.xml' },
  { uas: 'uas-401.xml', uac: 'uac-call-auth.xml' },
  { uas: 'uas-answer-absorb-retrans.xml', uac: 'uac-invite-retrans.xml', extraArgs: ['-nr'] },
];

function describeRun(label: string, result: SippResult): string {
  return `${label}: exit ${result.exitCode}, ${result.successfulCalls} ok, ${result.failedCalls} failed\n${result.errors}\n${result.stderr}`;
}

async function runPair(pair: Pair, transport: 'udp' | 'tcp'): Promise<{ uac: SippResult; uas: SippResult }> {
  const uasPort = await allocatePort();
  const uacPort = await allocatePort();
  const common: Partial<SippOptions> = {
    transport,
    keys: pair.keys?.(uacPort),
    extraArgs: pair.extraArgs,
    timeoutMs: 15000,
  };
  const server = startSippServer({ ...common, scenario: pair.uas, localPort: uasPort, calls: 1 });
  await server.ready;
  const uac = await runSipp({
    ...common,
    scenario: pair.uac,
    localPort: uacPort,
    remote: `127.0.0.1:${uasPort}`,
  });
  const uas = await server.done;
  return { uac, uas };
}

describe('SIPp scenario pairs on loopback', function () {
  this.timeout(30000);
  after(() => stopAll());

  for (const transport of ['udp', 'tcp'] as const) {
    describe(transport, () => {
      for (const pair of pairs) {
        it(`${pair.uac} <-> ${pair.uas}`, async () => {
          const { uac, uas } = await runPair(pair, transport);
          assert.equal(uac.exitCode, 0, describeRun('UAC', uac));
          assert.equal(uac.successfulCalls, 1, describeRun('UAC', uac));
          assert.equal(uas.exitCode, 0, describeRun('UAS', uas));
          assert.equal(uas.successfulCalls, 1, describeRun('UAS', uas));
          const wire = parseMessageLog(uac.messages);
          assert.ok(wire.length >= 2, 'the UAC logged what it sent and received');
          assert.ok(wire.every((message) => message.transport === transport.toUpperCase()));
        });
      }
    });
  }
});

describe('SIPp scenario checks', function () {
  this.timeout(30000);
  after(() => stopAll());

  it('uac-register fails when the 200 reports another rport', async () => {
    const { uac } = await runPair(
      {
        uas: 'uas-registrar-rport.xml',
        uac: 'uac-register.xml',
        keys: () => ({ nat_ip: '127.0.0.1', nat_port: '1' }),
      },
      'udp',
    );
    assert.equal(uac.exitCode, 1);
    assert.equal(uac.failedCalls, 1);
    assert.match(uac.errors, /Failed regexp match/);
  });

  it('uac-register fails when the 200 lacks received=127.0.0.1', async () => {
    const { uac } = await runPair(
      {
        uas: 'uas-registrar-rport.xml',
        uac: 'uac-register.xml',
        keys: (uacPort) => ({ nat_ip: '127.0.0.2', nat_port: String(uacPort) }),
      },
      'udp',
    );
    assert.equal(uac.failedCalls, 1);
    assert.match(uac.errors, /received=127/);
  });

  it('CANCEL and the ACK for 487 reuse the INVITE branch', async () => {
    const { uac } = await runPair({ uas: 'uas-ring-expect-cancel.xml', uac: 'uac-cancel.xml' }, 'udp');
    const sent = parseMessageLog(uac.messages).filter((message) => message.direction === 'sent');
    const branchOf = (method: string): string | undefined =>
      sent
        .find((message) => message.text.startsWith(`${method} `))
        ?.text.match(/^Via: .*branch=([^;\r\n]+)/m)?.[1];
    assert.ok(branchOf('INVITE'));
    assert.equal(branchOf('CANCEL'), branchOf('INVITE'));
    assert.equal(branchOf('ACK'), branchOf('INVITE'));
  });

  it('a busy callee fails a caller that expects an answer', async () => {
    const { uac } = await runPair({ uas: 'uas-busy.xml', uac: 'uac-call-bye.xml' }, 'udp');
    assert.notEqual(uac.exitCode, 0);
    assert.equal(uac.successfulCalls, 0);
  });
});
