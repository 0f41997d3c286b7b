import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stopProcess } from '../../support/processes';
import { runCommand } from '../lab/netns';
import type { Lab } from '../lab/topology';

/**
 * Pinhole as the product runs: `node dist/src/cli.js --config FILE` inside the lab's edge
 * namespace, on a config written here, logging at debug level into a file of the run's directory.
 */
export const DOMAIN = 'pinhole.test';
export const PBX_SIP_PORT = 5060;
export const EDGE_SIP_PORT = 5060;
export const EDGE_WS_PORT = 8088;

export interface MatrixUser {
  user: string;
  password: string;
}

export interface MatrixPinholeOptions {
  dir: string;
  latching: 'strict-source' | 'media-handover';
  keepaliveSeconds: number;
  users: readonly MatrixUser[];
  /** Routing rules put before the matrix's own, e.g. `media: never` overrides to prove cells can fail. */
  extraRules: readonly object[];
  /** The admin listener (dashboard, /metrics), when wanted; off loopback it needs a token. */
  admin?: { listen: string; token: string };
}

export interface PinholeInNs {
  pid: number;
  logFile: string;
  /** Log lines (JSON objects) that mention `text`. */
  logLinesWith(text: string): string[];
  /**
   * SIGTERM, SIGKILL after a grace period, then kills by pid whatever Pinhole left running in the
   * edge namespace (its rtpengine, when Pinhole had to be killed). Returns what had to be done
   * beyond a clean exit, for the report.
   */
  stop(): Promise<string[]>;
}

export const CLI = findUp(path.join('dist', 'src', 'cli.js'));
const READY_TIMEOUT_MS = 20000;
const STOP_GRACE_MS = 5000;

function findUp(relative: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`${relative} not found above ${__dirname}`);
  }
}

/** Writes pinhole.yaml, users.yaml and routing.yaml (JSON is YAML) into `options.dir`. */
export function writeMatrixConfig(lab: Pick<Lab, 'edge' | 'pbx'>, options: MatrixPinholeOptions): string {
  fs.mkdirSync(options.dir, { recursive: true });
  const users = Object.fromEntries(options.users.map((u) => [u.user, { password: u.password }]));
  fs.writeFileSync(path.join(options.dir, 'users.yaml'), JSON.stringify(users, null, 2));
  const rules = [
    ...options.extraRules,
    {
      name: 'phone-to-phone',
      match: { source: 'phones', user: { regex: '^1\\d{3}$' } },
      target: 'registrar',
    },
    { name: 'phones-to-pbx', match: { source: 'phones' }, target: 'pbx' },
    { name: 'pbx-to-phones', match: { source: 'pbx' }, target: 'registrar' },
  ];
  fs.writeFileSync(path.join(options.dir, 'routing.yaml'), JSON.stringify({ rules }, null, 2));
  const config = {
    sip: {
      listen: [
        `udp://${lab.edge.external}:${EDGE_SIP_PORT}`,
        `tcp://${lab.edge.external}:${EDGE_SIP_PORT}`,
        `ws://${lab.edge.external}:${EDGE_WS_PORT}`,
        `udp://${lab.edge.internal}:${EDGE_SIP_PORT}`,
      ],
    },
    registrar: {
      domain: DOMAIN,
      users: 'users.yaml',
      store: 'bindings.json',
      keepalive: { intervalSeconds: options.keepaliveSeconds, maxFailures: 3 },
    },
    pbx: { uri: `sip:${lab.pbx.address}:${PBX_SIP_PORT}` },
    calls: { routing: 'routing.yaml', ringTimeoutSeconds: 30 },
    media: {
      anchor: 'nat',
      latching: options.latching,
      rtpengine: {
        spawn: true,
        interfaces: { external: lab.edge.external, internal: lab.edge.internal },
        ports: '30000-30999',
        ng: ['127.0.0.1:22222'],
      },
    },
    log: { level: 'debug' },
    ...(options.admin ? { admin: options.admin } : {}),
    // Cells end their calls before Pinhole stops; a call left over must not hold the stop for a minute.
    shutdown: { drainSeconds: 2 },
  };
  const file = path.join(options.dir, 'pinhole.yaml');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Starts Pinhole in the edge namespace and resolves once it logs that it started. */
export async function startPinholeInNs(
  lab: Pick<Lab, 'spawn' | 'edge'>,
  configFile: string,
): Promise<PinholeInNs> {
  const logFile = configFile.replace(/\.yaml$/, '.log');
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = lab.spawn(lab.edge.ns, [process.execPath, CLI, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`pinhole did not start within ${READY_TIMEOUT_MS} ms; log: ${logFile}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (output.length < 1_000_000) output += chunk.toString();
      if (output.includes('"message":"pinhole started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`pinhole exited (${code ?? signal}) while starting: ${output.slice(-2000)}`));
    });
  });
  try {
    await started;
  } catch (error) {
    await stopProcess(child, 'SIGTERM', 3000);
    log.end();
    throw error;
  }
  return {
    pid: child.pid ?? -1,
    logFile,
    logLinesWith(text: string) {
      return fs
        .readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes(text));
    },
    async stop() {
      const problems: string[] = [];
      const stopping = Date.now();
      // SIGTERM lets Pinhole hang up, stop rtpengine by its pid and close its ports.
      await stopProcess(child, 'SIGTERM', STOP_GRACE_MS);
      if (child.signalCode === 'SIGKILL')
        problems.push(`pinhole ignored SIGTERM for ${Date.now() - stopping} ms and was killed`);
      const leftovers = await namespacePids(lab.edge.ns);
      for (const pid of leftovers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone between the listing and the kill.
        }
      }
      if (leftovers.length > 0)
        problems.push(`killed processes pinhole left behind: ${leftovers.join(', ')}`);
      await new Promise<void>((resolve) => log.end(resolve));
      return problems;
    },
  };
}

async function namespacePids(ns: string): Promise<number[]> {
  const result = await runCommand(['ip', 'netns', 'pids', ns]);
  return result.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}
