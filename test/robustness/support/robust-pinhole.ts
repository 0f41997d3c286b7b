/**
 * The whole product for robustness tests, with the knobs test/support/pinhole.ts does not offer:
 * SIP timers (short ones let finished transactions drain within a test, so "nothing leaked" can
 * be checked), the registrar store (a file or redis://), and rtpengine on or off. The same
 * config runs in-process (startRobustPinhole) or as `node dist/src/cli.js -c FILE` (writeConfig).
 * Addresses follow test/support/pinhole.ts: phones 127.0.0.1, PBX 127.0.0.2, internal 127.0.0.3.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { CallRecord } from '../../../src/b2bua';
import { configSchema } from '../../../src/config/schema';
import { createLogger } from '../../../src/logging';
import { startPinhole, type RunningPinhole } from '../../../src/pinhole';
import type { TimerSettings } from '../../../src/sipserver/transaction/timers';
import { DEFAULT_ROUTING, INTERNAL_IP, PBX_IP, PHONE_IP, REALM } from '../../support/pinhole';
import { allocatePort } from '../../support/ports';

export const USERS = { '1001': 'secret1001', '1002': 'secret1002' };

/** rtpengine media ports: inside test/support/pinhole.ts's range, which no other suite shares at once. */
const RTP_PORTS = '52000-52999';

/** Short but RFC-shaped: Timer J (64*T1) is 1.28 s, Timer I (T4) 0.2 s. */
export const FAST_TIMERS: TimerSettings = { t1: 20, t2: 160, t4: 200 };

export interface RobustOptions {
  pbxPort: number;
  routing?: string;
  /** Registrar store: a file name in the temp dir (default bindings.json) or redis://... */
  store?: string;
  timers?: TimerSettings;
  /** Spawn rtpengine and anchor media (default true). */
  media?: boolean;
  ringTimeoutSeconds?: number;
  retryAfterSeconds?: number;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** users.yaml as user -> password; default USERS. */
  users?: Record<string, string>;
}

export interface RobustSetup {
  dir: string;
  sipPort: number;
  ngPort: number;
  /** The config as written to pinhole.yaml (paths relative to `dir`). */
  config: Record<string, unknown>;
  configFile: string;
}

/** Makes a temp dir with users.yaml, routing.yaml and pinhole.yaml for these options. */
export async function prepareConfig(options: RobustOptions): Promise<RobustSetup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-robust-'));
  const sipPort = await allocatePort();
  const ngPort = await allocatePort();
  fs.writeFileSync(path.join(dir, 'routing.yaml'), options.routing ?? DEFAULT_ROUTING);
  fs.writeFileSync(
    path.join(dir, 'users.yaml'),
    Object.entries(options.users ?? USERS)
      .map(([user, password]) => `"${user}": {password: ${password}}\n`)
      .join(''),
  );
  const config: Record<string, unknown> = {
    sip: {
      listen: [
        `udp://${PHONE_IP}:${sipPort}`,
        `tcp://${PHONE_IP}:${sipPort}`,
        `udp://${INTERNAL_IP}:${sipPort}`,
      ],
      timers: options.timers ?? FAST_TIMERS,
    },
    registrar: {
      domain: REALM,
      users: 'users.yaml',
      store: options.store ?? 'bindings.json',
      keepalive: { intervalSeconds: 0 },
    },
    pbx: { uri: `sip:${PBX_IP}:${options.pbxPort}` },
    calls: {
      routing: 'routing.yaml',
      ringTimeoutSeconds: options.ringTimeoutSeconds ?? 30,
      retryAfterSeconds: options.retryAfterSeconds ?? 30,
    },
    log: { level: options.logLevel ?? 'error' },
  };
  if (options.media ?? true)
    config.media = {
      anchor: 'always',
      rtpengine: {
        spawn: true,
        interfaces: { external: PHONE_IP, internal: INTERNAL_IP },
        ports: RTP_PORTS,
        ng: [`127.0.0.1:${ngPort}`],
      },
    };
  const configFile = path.join(dir, 'pinhole.yaml');
  fs.writeFileSync(configFile, stringify(config));
  return { dir, sipPort, ngPort, config, configFile };
}

export interface RobustPinhole extends RobustSetup {
  running: RunningPinhole;
  /** Call records emitted so far, oldest first. */
  records: CallRecord[];
  /** Calls, rtpengine sessions and SIP dialogs still open. */
  leftovers(): { calls: number; media: number; dialogs: number };
  /** Server and client transactions still alive in the embedded SIP server. */
  transactions(): number;
  stop(): Promise<void>;
}

/** startPinhole() in this process on a fresh config; stop() also removes the temp dir. */
export async function startRobustPinhole(options: RobustOptions): Promise<RobustPinhole> {
  const setup = await prepareConfig(options);
  const config = configSchema.parse(setup.config);
  const logger = createLogger(process.env.PINHOLE_TEST_LOG ?? options.logLevel ?? 'error');
  let running: RunningPinhole;
  try {
    running = await startPinhole(config, setup.dir, logger);
  } catch (err) {
    fs.rmSync(setup.dir, { recursive: true, force: true });
    throw err;
  }
  const records: CallRecord[] = [];
  running.b2bua.on('call-record', (record: CallRecord) => records.push(record));
  return {
    ...setup,
    running,
    records,
    leftovers: () => ({
      calls: running.b2bua.stats().active,
      media: running.ngPool?.activeCalls ?? 0,
      dialogs: running.sipServer?.stats().dialogs ?? 0,
    }),
    transactions: () => {
      const counts = running.sipServer?.stats().transactions;
      return counts ? counts.server + counts.client : 0;
    },
    async stop() {
      await running.stop();
      fs.rmSync(setup.dir, { recursive: true, force: true });
    },
  };
}
