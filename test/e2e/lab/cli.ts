/**
 * The NAT lab for a person to watch, with Pinhole running in it:
 *   node dist/test/e2e/lab/cli.js up     (make lab) builds the 'phlab' lab, starts Pinhole (and its
 *                                        rtpengine) on the edge, places one call from a phone in each
 *                                        home to the PBX with RTP both ways, prints the results and
 *                                        what to run next; Pinhole keeps running afterwards.
 *   node dist/test/e2e/lab/cli.js down   (make lab-down) stops Pinhole and removes the lab.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabAgent } from '../matrix/agent-control';
import { measure, phoneCallsPbx, type MatrixEnv } from '../matrix/calls';
import { CLI, writeMatrixConfig } from '../matrix/pinhole-in-ns';
import { delivered, formatMatrix, type MatrixRow } from '../matrix/report';
import { listNamespaces } from './netns';
import {
  createLab,
  formatAddressPlan,
  HOME_NAMES,
  labSupported,
  removeStaleLabs,
  type HomeName,
  type Lab,
} from './topology';

const PREFIX = 'phlab';
const PREFIX_PATTERN = new RegExp(`^${PREFIX}-`);
const DIR = `/tmp/${PREFIX}`;
const PID_FILE = path.join(DIR, 'pinhole.pid');
const ADMIN_PORT = 8090;
const ADMIN_TOKEN = 'phlab-admin-token-not-secret';
const DEMO_PACKETS = 250;
const STARTUP_TIMEOUT_MS = 20000;
const USERS: Record<HomeName, { user: string; password: string }> = {
  cone: { user: '1001', password: 'lab-cone-1001' },
  symmetric: { user: '1002', password: 'lab-symmetric-1002' },
  twin: { user: '1003', password: 'lab-twin-1003' },
  cgnat: { user: '1004', password: 'lab-cgnat-1004' },
};

function usage(lab: Lab, logFile: string): string {
  const { edge, homes } = lab;
  const run = (ns: string) => `ip netns exec ${ns}`;
  const admin = `http://${edge.internal}:${ADMIN_PORT}`;
  const curl = `${run(edge.ns)} curl -s -H 'Authorization: Bearer ${ADMIN_TOKEN}'`;
  return [
    `Pinhole runs on the edge (pid in ${PID_FILE}); its debug log: ${logFile}`,
    `  tail -f ${logFile} | grep -E '"(call|call record|binding removed)"'`,
    'What it sees, through the admin API (the dashboard is at / on the same listener):',
    `  ${curl} ${admin}/api/registrations`,
    `  ${curl} ${admin}/api/records?limit=4`,
    `  ${curl} ${admin}/metrics | grep -E '^pinhole_(calls|registrations|rtpengine_relayed)'`,
    'Users (password): ' +
      HOME_NAMES.map((home) => `${USERS[home].user} (${USERS[home].password})`).join(', '),
    `Run anything inside a namespace with 'ip netns exec NS CMD', for example:`,
    `  ${run(homes.cone.phone.ns)} bash    # a shell on the cone home's phone (${homes.cone.phone.address})`,
    'Watch a NAT translate (the LAN side shows private addresses, the WAN side public ones):',
    `  ${run(homes.symmetric.natNs)} conntrack -E -p udp`,
    'Drop counters:',
    `  ${run(lab.internetNs)} iptables -t raw -L PREROUTING -vn    # packets to private destinations`,
    `  ${run(homes.cone.natNs)} iptables -L -vn    # unsolicited packets at a NAT`,
    `Run 'make lab' again for fresh calls; 'make lab-down' stops Pinhole and removes the lab.`,
  ].join('\n');
}

/**
 * Pinhole detached from this process (it must outlive `up`), in the edge namespace, logging to a
 * file; resolves once it says it started.
 */
async function startDetachedPinhole(lab: Lab, configFile: string): Promise<{ pid: number; logFile: string }> {
  const logFile = path.join(DIR, 'pinhole.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', lab.edge.ns, process.execPath, CLI, '--config', configFile], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  const pid = child.pid ?? -1;
  fs.writeFileSync(PID_FILE, `${pid}\n`);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!fs.readFileSync(logFile, 'utf8').includes('"message":"pinhole started"')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`Pinhole did not start; see ${logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { pid, logFile };
}

/** One call from each home's phone to the PBX, RTP both ways, counted at both ends. */
async function demoCalls(lab: Lab): Promise<MatrixRow[]> {
  const agents: LabAgent[] = [];
  const phones = {} as Record<HomeName, LabAgent>;
  for (const home of HOME_NAMES) {
    phones[home] = LabAgent.start(lab, lab.homes[home].phone.ns);
    agents.push(phones[home]);
  }
  const pbx = LabAgent.start(lab, lab.pbx.ns);
  agents.push(pbx);
  const passwords = Object.fromEntries(HOME_NAMES.map((home) => [USERS[home].user, USERS[home].password]));
  const env: MatrixEnv = { lab, dir: DIR, phones, pbx, passwords };
  const rows: MatrixRow[] = [];
  try {
    for (const home of HOME_NAMES) {
      const scenario = `${home} phone -> PBX`;
      try {
        const call = await phoneCallsPbx(env, { home, transport: 'udp', user: USERS[home].user });
        try {
          const result = await measure(call, DEMO_PACKETS);
          const problems = await call.finish();
          const pass = delivered(result.phone, result.farEnd) && delivered(result.farEnd, result.phone);
          rows.push({
            scenario,
            transport: 'udp',
            phone: result.phone,
            farEnd: result.farEnd,
            pass,
            note: [result.note, ...problems].filter(Boolean).join('; '),
          });
        } finally {
          await call.release();
        }
      } catch (error) {
        rows.push({
          scenario,
          transport: 'udp',
          phone: null,
          farEnd: null,
          pass: false,
          note: (error as Error).message,
        });
      }
    }
  } finally {
    await Promise.all(agents.map((agent) => agent.stop().catch(() => undefined)));
  }
  return rows;
}

async function up(): Promise<void> {
  const support = await labSupported();
  if (!support.ok) throw new Error(`the lab cannot run on this machine: ${support.reason}`);
  await down();
  fs.rmSync(DIR, { recursive: true, force: true });
  fs.mkdirSync(DIR, { recursive: true });
  const lab = await createLab({ prefix: PREFIX });
  const configFile = writeMatrixConfig(lab, {
    dir: DIR,
    latching: 'media-handover',
    keepaliveSeconds: 15,
    users: HOME_NAMES.map((home) => USERS[home]),
    extraRules: [],
    admin: { listen: `${lab.edge.internal}:${ADMIN_PORT}`, token: ADMIN_TOKEN },
  });
  const { pid, logFile } = await startDetachedPinhole(lab, configFile);
  console.log(
    `lab '${PREFIX}' is up; Pinhole (pid ${pid}) runs on the edge.\n\n${formatAddressPlan(lab.plan)}\n`,
  );
  console.log(`One call from each home to the PBX, ${DEMO_PACKETS} RTP packets each way at 20 ms:\n`);
  const rows = await demoCalls(lab);
  console.log(`${formatMatrix(rows)}\n\n${usage(lab, logFile)}`);
  if (rows.some((row) => !row.pass)) process.exitCode = 1;
}

async function down(): Promise<void> {
  if (fs.existsSync(PID_FILE)) {
    const pid = Number(fs.readFileSync(PID_FILE, 'utf8').trim());
    if (stopSignal(pid, 'SIGTERM')) {
      const deadline = Date.now() + 8000;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      stopSignal(pid, 'SIGKILL');
    }
    fs.rmSync(PID_FILE, { force: true });
  }
  // Deleting a namespace also kills what still runs in it (a spawned rtpengine).
  const removed = await removeStaleLabs(PREFIX_PATTERN);
  console.log(removed.length > 0 ? `removed ${removed.join(' ')}` : `no '${PREFIX}' lab was up`);
}

function isAlive(pid: number): boolean {
  return stopSignal(pid, 0);
}

function stopSignal(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

async function main(command: string | undefined): Promise<void> {
  if (command === 'up') return up();
  if (command === 'down') return down();
  if (command === 'status') {
    const namespaces = (await listNamespaces()).filter((ns) => PREFIX_PATTERN.test(ns));
    console.log(namespaces.length > 0 ? namespaces.join('\n') : `no '${PREFIX}' lab is up`);
    return;
  }
  console.error('usage: cli.js up|down|status');
  process.exitCode = 2;
}

main(process.argv[2]).then(
  () => process.exit(),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
