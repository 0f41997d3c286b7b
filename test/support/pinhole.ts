/**
 * Runs the whole product in-process for integration tests: startPinhole() on a config built
 * here (embedded SIP server on loopback, spawned rtpengine, registrar, B2BUA, routing file), the
 * same path `make run` takes. Like an edge with two interfaces: phones live on 127.0.0.1 and reach
 * Pinhole's external side (SIP and rtpengine) on 127.0.0.1; the PBX lives on 127.0.0.2 and reaches
 * Pinhole's internal side on 127.0.0.3. A test can tell which side an address belongs to.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CallRecord } from '../../src/b2bua';
import { configSchema } from '../../src/config/schema';
import { createLogger } from '../../src/logging';
import { startPinhole, type RunningPinhole } from '../../src/pinhole';
import { allocatePort } from './ports';

export const PHONE_IP = '127.0.0.1';
export const PBX_IP = '127.0.0.2';
/** Pinhole's (and rtpengine's) address on the PBX side. */
export const INTERNAL_IP = '127.0.0.3';
export const REALM = 'pinhole.test';

/** rtpengine media ports for these tests: outside allocatePort's 40000-49999. */
const RTP_PORTS = '52000-52999';

export const DEFAULT_ROUTING = `
rules:
  - name: phones-to-pbx
    match: { source: phones }
    target: pbx
  - name: pbx-to-phones
    match: { source: pbx }
    target: registrar
`;

export interface TestPinholeOptions {
  pbxPort: number;
  /** users.yaml text; null runs without digest auth (phones prove themselves by flow). */
  users?: string | null;
  routing?: string;
  anchor?: 'always' | 'nat' | 'never';
  ringTimeoutSeconds?: number;
  /** calls.mediaTimeoutSeconds; default: off, so long test calls without RTP stay up. */
  mediaTimeoutSeconds?: number;
  /** Serve the admin API and dashboard on a free loopback port (token: optional bearer token). */
  admin?: boolean | { token: string };
  /** The `guard:` config section (flood protection); defaults apply when absent. */
  guard?: unknown;
  /** `sip.thread`: the embedded server in a worker thread (the default) or the app's thread. */
  thread?: 'worker' | 'main';
}

export interface TestPinhole {
  sipPort: number;
  ngPort: number;
  dir: string;
  routingFile: string;
  running: RunningPinhole;
  records: CallRecord[];
  /** http://127.0.0.1:PORT when started with `admin`. */
  adminUrl: string | null;
  /** Calls, rtpengine sessions (ours) and SIP dialogs still open. */
  leftovers(): { calls: number; media: number; dialogs: number };
  stop(): Promise<void>;
}

export async function startTestPinhole(options: TestPinholeOptions): Promise<TestPinhole> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-b2bua-'));
  const sipPort = await allocatePort();
  const ngPort = await allocatePort();
  const adminPort = options.admin ? await allocatePort() : null;
  const routingFile = path.join(dir, 'routing.yaml');
  fs.writeFileSync(routingFile, options.routing ?? DEFAULT_ROUTING);
  const users =
    options.users === undefined
      ? `"1001": {password: secret1001}\n"1002": {password: secret1002}\n`
      : options.users;
  if (users !== null) fs.writeFileSync(path.join(dir, 'users.yaml'), users);
  const config = configSchema.parse({
    sip: {
      listen: [
        `udp://${PHONE_IP}:${sipPort}`,
        `tcp://${PHONE_IP}:${sipPort}`,
        `udp://${INTERNAL_IP}:${sipPort}`,
      ],
      thread: options.thread,
    },
    registrar: {
      domain: REALM,
      users: users === null ? null : 'users.yaml',
      store: 'bindings.json',
      keepalive: { intervalSeconds: 0 },
    },
    pbx: { uri: `sip:${PBX_IP}:${options.pbxPort}` },
    calls: {
      routing: 'routing.yaml',
      ringTimeoutSeconds: options.ringTimeoutSeconds ?? 30,
      mediaTimeoutSeconds: options.mediaTimeoutSeconds ?? 0,
    },
    media: {
      anchor: options.anchor ?? 'nat',
      rtpengine: {
        spawn: true,
        interfaces: { external: PHONE_IP, internal: INTERNAL_IP },
        ports: RTP_PORTS,
        ng: [`127.0.0.1:${ngPort}`],
      },
    },
    log: { level: 'error' },
    guard: options.guard,
    admin:
      adminPort === null
        ? undefined
        : {
            listen: `127.0.0.1:${adminPort}`,
            token: typeof options.admin === 'object' ? options.admin.token : undefined,
          },
  });
  const logger = createLogger(process.env.PINHOLE_TEST_LOG ?? 'error');
  const running = await startPinhole(config, dir, logger);
  const records: CallRecord[] = [];
  running.b2bua.on('call-record', (record: CallRecord) => records.push(record));
  return {
    sipPort,
    ngPort,
    dir,
    routingFile,
    running,
    records,
    adminUrl: running.admin?.url ?? null,
    leftovers: () => ({
      calls: running.b2bua.stats().active,
      media: running.ngPool?.activeCalls ?? 0,
      dialogs: running.sipServer?.stats().dialogs ?? 0,
    }),
    async stop() {
      await running.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
