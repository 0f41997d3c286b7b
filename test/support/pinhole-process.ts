/**
 * Pinhole as its own process (`node dist/src/cli.js -c <config>`), the way systemd runs it, for
 * tests of signals and restarts. Same addresses as startTestPinhole: phones on 127.0.0.1, PBX on
 * 127.0.0.2, Pinhole's internal side 127.0.0.3; rtpengine spawned on ports 52000-52999.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { eventually } from './embedded';
import { INTERNAL_IP, PBX_IP, PHONE_IP, REALM, DEFAULT_ROUTING } from './pinhole';
import { allocatePort } from './ports';
import { spawnTracked, waitForExit } from './processes';

const CLI = path.resolve(__dirname, '../../src/cli.js');

export interface PinholeProcessOptions {
  pbxPort: number;
  drainSeconds?: number;
  /** registrar.store: a file name in the process's directory (default) or redis://host:port/db. */
  store?: string;
}

export interface PinholeProcess {
  sipPort: number;
  adminUrl: string;
  dir: string;
  child: ChildProcess;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Starts a new process on the same config, ports and binding store. */
  restart(): Promise<PinholeProcess>;
  /** Stops it (SIGINT, then SIGKILL) and removes its directory. */
  dispose(): Promise<void>;
}

export async function startPinholeProcess(options: PinholeProcessOptions): Promise<PinholeProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-process-'));
  const sipPort = await allocatePort();
  const adminPort = await allocatePort();
  const ngPort = await allocatePort();
  fs.writeFileSync(path.join(dir, 'routing.yaml'), DEFAULT_ROUTING);
  fs.writeFileSync(
    path.join(dir, 'users.yaml'),
    '"1001": {password: secret1001}\n"1002": {password: secret1002}\n',
  );
  const config = {
    sip: {
      listen: [`udp://${PHONE_IP}:${sipPort}`, `udp://${INTERNAL_IP}:${sipPort}`],
    },
    registrar: {
      domain: REALM,
      users: 'users.yaml',
      store: options.store ?? 'bindings.json',
      keepalive: { intervalSeconds: 0 },
    },
    pbx: { uri: `sip:${PBX_IP}:${options.pbxPort}` },
    calls: { routing: 'routing.yaml' },
    media: {
      anchor: 'nat',
      rtpengine: {
        spawn: true,
        interfaces: { external: PHONE_IP, internal: INTERNAL_IP },
        ports: '52000-52999',
        ng: [`127.0.0.1:${ngPort}`],
      },
    },
    admin: { listen: `127.0.0.1:${adminPort}` },
    shutdown: { drainSeconds: options.drainSeconds ?? 30 },
    log: { level: 'info' },
  };
  const configFile = path.join(dir, 'pinhole.yaml');
  fs.writeFileSync(configFile, stringify(config));
  return launch(dir, configFile, sipPort, `http://127.0.0.1:${adminPort}`);
}

/** Runs the CLI on `configFile` (tracked, so stopAll reaches it), capturing stdout and stderr. */
export function spawnPinholeCli(configFile: string): { child: ChildProcess; output(): string } {
  const child = spawnTracked(process.execPath, [CLI, '-c', configFile]);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return { child, output: () => output };
}

async function launch(
  dir: string,
  configFile: string,
  sipPort: number,
  adminUrl: string,
): Promise<PinholeProcess> {
  const { child, output } = spawnPinholeCli(configFile);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  await eventually(
    () => {
      if (exitCode !== undefined)
        throw new Error(`pinhole exited with ${exitCode} while starting:\n${output()}`);
      return output().includes('"pinhole started"');
    },
    'pinhole started',
    20000,
  );
  const process_: PinholeProcess = {
    sipPort,
    adminUrl,
    dir,
    child,
    output,
    exited,
    restart: () => launch(dir, configFile, sipPort, adminUrl),
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await waitForExit(child);
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return process_;
}
