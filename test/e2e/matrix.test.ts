import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LabAgent } from './matrix/agent-control';
import {
  measure,
  pbxCallsPhone,
  phoneCallsPbx,
  phoneCallsPhone,
  type LiveCall,
  type MatrixEnv,
} from './matrix/calls';
import {
  startPinholeInNs,
  writeMatrixConfig,
  type MatrixUser,
  type PinholeInNs,
} from './matrix/pinhole-in-ns';
import { delivered, formatMatrix, type MatrixRow } from './matrix/report';
import {
  createLab,
  DEFAULT_UDP_STREAM_TIMEOUT_S,
  DEFAULT_UDP_TIMEOUT_S,
  HOME_NAMES,
  labSupported,
  type HomeName,
  type Lab,
} from './lab/topology';

/**
 * Issue 7's end-to-end call matrix: Pinhole runs as `node dist/src/cli.js` in the lab's edge
 * namespace with its own rtpengine, a SIPp PBX sits on the internal segment, and softphones sit
 * behind the cone, symmetric, twin and CGNAT homes. Every cell sets up a real call and sends RTP
 * both ways from meters in the endpoints' namespaces to the address:port their SDP names; at
 * least 95 % must arrive at each end.
 *
 * PINHOLE_E2E_BREAK (comma-separated) turns things off to show the cells can fail:
 *   anchor-off       symmetric-NAT calls get `media: never` (no rtpengine, SDP rewrite only)
 *   strict-latching  the rebind cell runs under strict-source instead of media-handover
 *   keepalive-off    registrar keepalives off, so the keepalive cell's NAT binding expires
 * Traces and Pinhole's debug log stay in the run directory printed at the end.
 */
const BREAK = new Set((process.env.PINHOLE_E2E_BREAK ?? '').split(',').filter(Boolean));
const PACKETS = 100;
/**
 * 4 s of media before the rebind: rtpengine's default endpoint learning ("delayed") follows any
 * new source during the first 3 s, so an earlier rebind would pass even under strict-source.
 */
const REBIND_WARMUP_PACKETS = 200;
const KEEPALIVE_SECONDS = 1;
const NAT_TIMEOUT_S = 3;
/** Past the NAT timeout with room to spare: without keepalives the binding is surely gone. */
const IDLE_WAIT_MS = (NAT_TIMEOUT_S + 2) * 1000;

/** One registered or calling user per cell, so no cell forks to a binding another left behind. */
const USERS: Record<string, string> = {
  '1001': 'cone-udp-secret',
  '1002': 'symmetric-udp-secret',
  '1003': 'twin-udp-secret',
  '1004': 'cgnat-udp-secret',
  '1005': 'keepalive-secret',
  '1006': 'rebind-secret',
  '1011': 'cone-tcp-secret',
  '1021': 'cone-ws-secret',
};
const SYMMETRIC_PUBLIC = '203.0.113.20';

function anchorOffRules(): object[] {
  if (!BREAK.has('anchor-off')) return [];
  return [
    { name: 'break-symmetric-out', match: { source: SYMMETRIC_PUBLIC }, target: 'pbx', media: 'never' },
    {
      name: 'break-symmetric-in',
      match: { source: 'pbx', user: { regex: '^100[26]$' } },
      target: 'registrar',
      media: 'never',
    },
  ];
}

describe('e2e matrix: calls through Pinhole in the NAT lab, with RTP counted at both ends', function () {
  this.timeout(60000);
  const rows: MatrixRow[] = [];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-matrix-'));
  const users: MatrixUser[] = Object.entries(USERS).map(([user, password]) => ({ user, password }));
  let lab: Lab | undefined;
  let pinhole: PinholeInNs | undefined;
  const agents: LabAgent[] = [];
  let env: MatrixEnv;
  const startedAt = Date.now();

  const stopNotes: string[] = [];

  async function stopPinhole(): Promise<void> {
    const running = pinhole;
    pinhole = undefined;
    if (running) stopNotes.push(...(await running.stop()));
  }

  async function startPinhole(name: string, latching: 'strict-source' | 'media-handover'): Promise<void> {
    const config = writeMatrixConfig(theLab(), {
      dir: path.join(runDir, name),
      latching,
      keepaliveSeconds: BREAK.has('keepalive-off') ? 0 : KEEPALIVE_SECONDS,
      users,
      extraRules: anchorOffRules(),
    });
    pinhole = await startPinholeInNs(theLab(), config);
  }

  function theLab(): Lab {
    assert.ok(lab, 'the lab was not built');
    return lab;
  }

  before(async function () {
    const support = await labSupported();
    if (!support.ok)
      throw new Error(`the network-namespace lab cannot run on this machine: ${support.reason}`);
    lab = await createLab();
    const built = lab;
    const phones = {} as Record<HomeName, LabAgent>;
    for (const home of HOME_NAMES) {
      phones[home] = LabAgent.start(built, built.homes[home].phone.ns);
      agents.push(phones[home]);
    }
    const pbx = LabAgent.start(built, built.pbx.ns);
    agents.push(pbx);
    env = { lab: built, dir: runDir, phones, pbx, passwords: USERS };
    await startPinhole('pinhole-strict', 'strict-source');
  });

  after(async function () {
    await stopPinhole().catch((error: Error) => stopNotes.push(error.message));
    await Promise.all(agents.map((agent) => agent.stop().catch(() => undefined)));
    await lab?.destroy();
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    const breaks = BREAK.size > 0 ? ` (PINHOLE_E2E_BREAK=${[...BREAK].join(',')})` : '';
    console.log(`\n      call matrix${breaks}, ${PACKETS} packets at 20 ms each way, ${seconds} s:\n`);
    console.log(indent(formatMatrix(rows), 6));
    for (const note of stopNotes) console.log(`      stopping Pinhole: ${note}`);
    console.log(`\n      traces and Pinhole logs: ${runDir}\n`);
  });

  /** Sets up a call, runs media both ways, hangs up, records the row and asserts it. */
  async function cell(
    scenario: string,
    transport: string,
    setUp: () => Promise<LiveCall>,
    duringCall?: (
      call: LiveCall,
    ) => Promise<{ phone: MatrixRow['phone']; farEnd: MatrixRow['farEnd']; note: string }>,
  ): Promise<void> {
    const row: MatrixRow = { scenario, transport, phone: null, farEnd: null, pass: false, note: '' };
    rows.push(row);
    let call: LiveCall;
    try {
      call = await setUp();
    } catch (error) {
      row.note = `set-up failed: ${(error as Error).message}`;
      throw error;
    }
    try {
      const measured = duringCall ? await duringCall(call) : await measure(call, PACKETS);
      row.phone = measured.phone;
      row.farEnd = measured.farEnd;
      const problems = await call.finish();
      const media =
        delivered(measured.phone!, measured.farEnd!) && delivered(measured.farEnd!, measured.phone!);
      row.pass = media && problems.length === 0;
      const protocols = [call.phone.target.protocol, call.farEnd.target.protocol]
        .filter((p) => p !== undefined && p !== 'RTP/AVP')
        .map((p) => `an SDP said ${p}`);
      row.note = [measured.note, ...protocols, ...problems].filter(Boolean).join('; ');
      assert.ok(
        media,
        `${scenario} over ${transport}: phone sent ${measured.phone!.sent}, far end got ${measured.farEnd!.received}; ` +
          `far end sent ${measured.farEnd!.sent}, phone got ${measured.phone!.received} (need ≥ 95 % each way)`,
      );
      assert.deepEqual(problems, [], `${scenario} over ${transport}: the call did not end cleanly`);
    } catch (error) {
      if (row.phone === null) row.note = `failed during the call: ${(error as Error).message}`;
      throw error;
    } finally {
      await call.release();
    }
  }

  it('phone → PBX behind the cone NAT over UDP', () =>
    cell('phone → PBX, cone NAT', 'udp', () =>
      phoneCallsPbx(env, { home: 'cone', transport: 'udp', user: '1001' }),
    ));

  it('PBX → phone behind the cone NAT over UDP', () =>
    cell('PBX → phone, cone NAT', 'udp', () =>
      pbxCallsPhone(env, { home: 'cone', transport: 'udp', user: '1001' }),
    ));

  it('phone → PBX behind the symmetric NAT over UDP', () =>
    cell('phone → PBX, symmetric NAT', 'udp', () =>
      phoneCallsPbx(env, { home: 'symmetric', transport: 'udp', user: '1002' }),
    ));

  it('PBX → phone behind the symmetric NAT over UDP', () =>
    cell('PBX → phone, symmetric NAT', 'udp', () =>
      pbxCallsPhone(env, { home: 'symmetric', transport: 'udp', user: '1002' }),
    ));

  it('phone → PBX behind the cone NAT over TCP', () =>
    cell('phone → PBX, cone NAT', 'tcp', () =>
      phoneCallsPbx(env, { home: 'cone', transport: 'tcp', user: '1011' }),
    ));

  it('PBX → phone behind the cone NAT over TCP', () =>
    cell('PBX → phone, cone NAT', 'tcp', () =>
      pbxCallsPhone(env, { home: 'cone', transport: 'tcp', user: '1011' }),
    ));

  it('phone → PBX behind the cone NAT over WebSocket', () =>
    cell('phone → PBX, cone NAT', 'ws', () =>
      phoneCallsPbx(env, { home: 'cone', transport: 'ws', user: '1021' }),
    ));

  it('PBX → phone behind the cone NAT over WebSocket', () =>
    cell('PBX → phone, cone NAT', 'ws', () =>
      pbxCallsPhone(env, { home: 'cone', transport: 'ws', user: '1021' }),
    ));

  it('phone ↔ phone across the cone and twin homes (both 192.168.1.10)', () =>
    cell('cone phone → twin phone', 'udp', () =>
      phoneCallsPhone(
        env,
        { home: 'cone', transport: 'udp', user: '1001' },
        { home: 'twin', transport: 'udp', user: '1003' },
      ),
    ));

  it('phone → PBX from the CGNAT home', () =>
    cell('phone → PBX, CGNAT', 'udp', () =>
      phoneCallsPbx(env, { home: 'cgnat', transport: 'udp', user: '1004' }),
    ));

  it('PBX → phone after the NAT timeout passed, the binding held by keepalives', async function () {
    const l = theLab();
    await l.setUdpTimeout(NAT_TIMEOUT_S);
    let optionsSeen = 0;
    try {
      await cell('PBX → phone after NAT timeout (keepalive)', 'udp', () =>
        pbxCallsPhone(env, { home: 'cone', transport: 'udp', user: '1005' }, async (agent, phone) => {
          await new Promise((resolve) => setTimeout(resolve, IDLE_WAIT_MS));
          optionsSeen = (await agent.phoneInfo(phone)).optionsAnswered;
        }),
      );
    } finally {
      const row = rows[rows.length - 1];
      row.note = [`${optionsSeen} keepalive OPTIONS in ${IDLE_WAIT_MS / 1000} s idle`, row.note]
        .filter(Boolean)
        .join('; ');
      await l.setUdpTimeout(DEFAULT_UDP_TIMEOUT_S, DEFAULT_UDP_STREAM_TIMEOUT_S);
    }
  });

  it('symmetric NAT rebinds mid-call: media follows under media-handover latching', async function () {
    const l = theLab();
    await stopPinhole();
    const latching = BREAK.has('strict-latching') ? 'strict-source' : 'media-handover';
    await startPinhole('pinhole-handover', latching);
    await cell(
      `phone → PBX, symmetric NAT rebinds mid-call (${latching})`,
      'udp',
      () => phoneCallsPbx(env, { home: 'symmetric', transport: 'udp', user: '1006' }),
      async (call) => {
        await measure(call, REBIND_WARMUP_PACKETS);
        const before = await publicRtpPort(l, call);
        await l.flushConntrack('symmetric');
        const after = await measure(call, PACKETS);
        const rebound = await publicRtpPort(l, call);
        assert.notEqual(rebound, before, 'the NAT kept the public RTP port across the flush');
        const note = [`public RTP port ${before} → ${rebound}; counted after the flush`, after.note];
        return { ...after, note: note.filter(Boolean).join('; ') };
      },
    );
  });
});

/** The public port the symmetric NAT gave the phone's RTP toward the edge, read from conntrack. */
async function publicRtpPort(lab: Lab, call: LiveCall): Promise<number> {
  const home = lab.homes.symmetric;
  const listing = await lab.exec(home.natNs, [
    'conntrack', '-L', '-p', 'udp',
    '--orig-src', home.phone.address,
    '--orig-dst', call.phone.target.host,
    '--orig-port-dst', String(call.phone.target.port),
  ]); // prettier-ignore
  const ports = [...listing.stdout.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
  // Each entry names the original destination port, then the reply's: the NAT's public port.
  if (ports.length < 2)
    throw new Error(`no conntrack entry for the phone's RTP: ${listing.stdout}${listing.stderr}`);
  return ports[1];
}

function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}
