import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Srf from 'drachtio-srf';
import { startAdminServer, type AdminServer } from './admin/admin-server';
import { installApp } from './app/app';
import { B2bua, pbxNetworks } from './b2bua';
import { RoutingWatcher } from './b2bua/routing';
import { parseHostPort } from './config/host-port';
import type { PinholeConfig } from './config/schema';
import type { GuardStats } from './guard';
import type { Logger } from './logging';
import { parseNgAddress, RtpenginePool, type NgSample } from './nat/rtpengine-pool';
import { RtpengineProcess } from './nat/rtpengine-process';
import { createRegistrar, type Registrar } from './registrar';
import { UserDirectory } from './registrar/users';
import { startEmbeddedSipServer, type RunningSipServer } from './sip-host';
import { startSoftphoneServer, type SoftphoneServer } from './web/softphone-server';

export interface RunningPinhole {
  srf: Srf;
  /** The embedded SIP server; null with an external drachtio-server. */
  sipServer: RunningSipServer | null;
  registrar: Registrar;
  b2bua: B2bua;
  routing: RoutingWatcher;
  /** ng control of the rtpengine(s); null when `media:` is not configured. */
  ngPool: RtpenginePool | null;
  rtpengine: RtpengineProcess | null;
  softphone: SoftphoneServer | null;
  admin: AdminServer | null;
  /** Flood protection in the embedded SIP server (bans, locked users); null with a drachtio-server. */
  guardStats(): Promise<GuardStats | null>;
  /** SIGTERM: refuse new calls, let calls end up to shutdown.drainSeconds, hang up the rest, stop. */
  drain(): Promise<void>;
  /** SIGHUP: applies what can change safely while running (log level, routing, users). */
  reload(next: PinholeConfig): void;
  stop(): Promise<void>;
}

export interface PinholeHooks {
  /** The embedded SIP server's thread ended on its own (a bug): the CLI exits so it is restarted. */
  onSipServerLost?(err: Error): void;
}

/** How fresh the SIP server's counters in the admin API and metrics are, with a worker thread. */
const SIP_STATS_INTERVAL_MS = 500;

const VERSION = (
  JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
    version: string;
  }
).version;

/**
 * Starts Pinhole: the embedded SIP server (unless a drachtio-server is configured) and the
 * drachtio-srf app connected to it over the drachtio wire protocol.
 */
export async function startPinhole(
  config: PinholeConfig,
  configDir: string,
  logger: Logger,
  hooks: PinholeHooks = {},
): Promise<RunningPinhole> {
  // First, so a bad users file or an unreachable store stops startup before any port is bound.
  const registrar = await createRegistrar(
    config.registrar,
    config.pbx,
    configDir,
    logger.child({ component: 'registrar' }),
  );
  // Also before binding ports: a broken routing file must stop startup with its line number.
  const routing = new RoutingWatcher({
    file: path.resolve(configDir, config.calls.routing),
    logger: logger.child({ component: 'routing' }),
  });
  // What has started so far, undone in reverse when a later step fails, so a failed start
  // leaves no rtpengine or bound port behind.
  const undo: (() => unknown)[] = [() => registrar.stop()];
  try {
    const rtpengine = await startRtpengine(config, logger);
    if (rtpengine) undo.push(() => rtpengine.stop());
    let admin: AdminServer | null = null;
    const ngPool = config.media
      ? await openNgPool(config.media, logger, (sample) => admin?.metrics.observeNg(sample))
      : null;
    if (ngPool) undo.push(() => ngPool.close());
    const b2bua = new B2bua({
      calls: config.calls,
      pbx: config.pbx,
      media: config.media,
      ng: ngPool,
      authenticator: registrar.authenticator,
      lookup: (aor) => registrar.lookup(aor),
      routing,
      localNetworks: [...config.registrar.localNetworks, ...(config.media?.localNetworks ?? [])],
      logger: logger.child({ component: 'b2bua' }),
    });
    let sipServer: RunningSipServer | null = null;
    let target: { host: string; port: number; secret: string };
    if (config.sip.server === 'embedded') {
      const secret = config.sip.control.secret ?? randomBytes(18).toString('base64url');
      const tls = config.sip.tls
        ? {
            cert: fs.readFileSync(path.resolve(configDir, config.sip.tls.cert)),
            key: fs.readFileSync(path.resolve(configDir, config.sip.tls.key)),
          }
        : undefined;
      const started = await startEmbeddedSipServer(
        {
          listen: config.sip.listen,
          control: { host: config.sip.control.host, port: config.sip.control.port, secret },
          advertise: config.sip.advertise,
          timers: config.sip.timers,
          tls,
          maxMessageSize: config.sip.maxMessageSize,
          idleTimeoutMs: config.sip.idleTimeoutSeconds * 1000,
          guard: { ...config.guard, trusted: [...config.guard.trusted, ...pbxNetworks(config.pbx)] },
          logLevel: config.log.level,
          statsIntervalMs: SIP_STATS_INTERVAL_MS,
        },
        config.sip.thread,
        logger,
        (err) => {
          logger.error('the SIP server thread ended: SIP is down', { error: err.message });
          hooks.onSipServerLost?.(err);
        },
      );
      sipServer = started;
      undo.push(() => started.stop());
      target = { ...started.controlAddress, secret };
    } else {
      target = config.sip.server;
    }
    const srf = new Srf();
    installApp(srf, logger.child({ component: 'app' }), registrar, b2bua);
    undo.push(() => srf.disconnect());
    let appConnected = false;
    srf.on('connect', (err: Error | null) => (appConnected = !err));
    // drachtio-srf emits these, but its type declarations name only 'connect' and SIP methods.
    const connection = srf as unknown as EventEmitter;
    connection.on('close', () => (appConnected = false));
    connection.on('reconnecting', () => (appConnected = false));
    await connectSrf(srf, target);
    routing.start();
    undo.push(() => routing.stop());
    const softphone = await startSoftphone(config, configDir, logger);
    if (softphone) undo.push(() => softphone.close());
    let draining = false;
    if (config.admin) {
      admin = await startAdminServer(config.admin, {
        sipServer,
        registrar,
        b2bua,
        ngPool,
        logger,
        appConnected: () => appConnected,
        draining: () => draining,
        softphoneUrl: softphone?.url ?? null,
        version: VERSION,
      });
    }
    const startedAdmin = admin;
    logger.info('pinhole started', {
      version: VERSION,
      sipServer: config.sip.server === 'embedded' ? 'embedded' : `${target.host}:${target.port}`,
      admin: admin?.url ?? null,
    });
    let stopped: Promise<void> | null = null;
    const stop = () => (stopped ??= stopEverything());
    const stopEverything = async () => {
      await startedAdmin?.close();
      await softphone?.close();
      routing.stop();
      await b2bua.stop();
      await registrar.stop();
      srf.disconnect();
      if (sipServer) await sipServer.stop();
      ngPool?.close();
      if (rtpengine) await rtpengine.stop();
    };
    return {
      srf,
      sipServer,
      registrar,
      b2bua,
      routing,
      ngPool,
      rtpengine,
      softphone,
      admin,
      guardStats: async () => {
        if (!sipServer) return null;
        await sipServer.refreshStats();
        return sipServer.guardStats();
      },
      stop,
      async drain() {
        draining = true;
        const deadlineMs = config.shutdown.drainSeconds * 1000;
        logger.info('draining: new calls get 503', {
          calls: b2bua.stats().active,
          deadlineSeconds: deadlineMs / 1000,
        });
        const { ended, left } = await b2bua.drain(deadlineMs);
        logger.info('drained', { endedOnTheirOwn: ended, hungUp: left });
        await stop();
      },
      reload(next) {
        logger.level = next.log.level;
        routing.reloadNow();
        const authenticator = registrar.authenticator;
        if (authenticator && next.registrar.users) {
          const file = path.resolve(configDir, next.registrar.users);
          try {
            const users = UserDirectory.fromFile(file, authenticator.realm);
            authenticator.replaceUsers(users);
            logger.info('users reloaded', { users: users.size });
          } catch (err) {
            logger.error('users file refused, keeping the old users', { error: (err as Error).message });
          }
        }
        logger.info('configuration reloaded', {
          applied: ['log.level', 'routing', 'registrar.users'],
          needsRestart: 'listeners, media, registrar store and mode, admin',
        });
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
    throw err;
  }
}

/** Debian's rtpengine, started and kept running by us when `media.rtpengine.spawn` is set. */
async function startRtpengine(config: PinholeConfig, logger: Logger): Promise<RtpengineProcess | null> {
  const settings = config.media?.rtpengine;
  if (!settings?.spawn) return null;
  const rtpengine = new RtpengineProcess({
    binary: settings.binary,
    interfaces: [settings.interfaces.external, settings.interfaces.internal],
    ng: parseNgAddress(settings.ng[0]),
    ports: settings.ports,
    verbose: config.log.level === 'debug',
    logger: logger.child({ component: 'rtpengine' }),
  });
  await rtpengine.start();
  logger.info('rtpengine running', { pid: rtpengine.pid, ng: settings.ng[0] });
  return rtpengine;
}

/** The SIP.js softphone page, when `web.softphone` is configured. */
async function startSoftphone(
  config: PinholeConfig,
  configDir: string,
  logger: Logger,
): Promise<SoftphoneServer | null> {
  const settings = config.web.softphone;
  if (!settings) return null;
  const listen = parseHostPort(settings.listen);
  if (!listen) throw new Error(`web.softphone.listen ${settings.listen} is not HOST:PORT`);
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (settings.tls) {
    if (!config.sip.tls) throw new Error('web.softphone.tls needs sip.tls (cert and key)');
    tls = {
      cert: fs.readFileSync(path.resolve(configDir, config.sip.tls.cert)),
      key: fs.readFileSync(path.resolve(configDir, config.sip.tls.key)),
    };
  }
  const sipWebSocketUrl = settings.sipWebSocketUrl ?? defaultWebSocketUrl(config, listen.host);
  return startSoftphoneServer({
    listen,
    tls,
    sipWebSocketUrl,
    logger: logger.child({ component: 'softphone' }),
  });
}

/** The first WebSocket listener, addressed the way a browser on `pageHost` can reach it. */
function defaultWebSocketUrl(config: PinholeConfig, pageHost: string): string {
  const listener = config.sip.listen.find((url) => /^wss?:/.test(url));
  if (!listener) throw new Error('web.softphone needs a ws:// or wss:// entry in sip.listen');
  const match = /^(wss?):\/\/(.+):(\d+)$/.exec(listener)!;
  const bound = match[2];
  const host =
    config.sip.advertise ??
    (bound === '0.0.0.0' || bound === '[::]' ? pageHost : bound.replace(/^\[|\]$/g, ''));
  return `${match[1]}://${host.includes(':') ? `[${host}]` : host}:${match[3]}`;
}

async function openNgPool(
  media: NonNullable<PinholeConfig['media']>,
  logger: Logger,
  observe: (sample: NgSample) => void,
): Promise<RtpenginePool> {
  const ngLogger = logger.child({ component: 'rtpengine-ng' });
  const pool = new RtpenginePool(
    media.rtpengine.ng,
    { timeoutMs: media.rtpengine.timeoutMs, pingIntervalMs: media.rtpengine.pingIntervalMs, observe },
    (err) => ngLogger.warn('late or stray ng reply', { error: err.message }),
  );
  await pool.start();
  for (const member of pool.health())
    if (!member.healthy) ngLogger.warn('rtpengine not answering ping', { endpoint: member.endpoint });
  return pool;
}

function connectSrf(srf: Srf, target: { host: string; port: number; secret: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    srf.once('connect', (err: Error | null) => (err ? reject(err) : resolve()));
    srf.once('error', reject);
    srf.connect(target);
  });
}
