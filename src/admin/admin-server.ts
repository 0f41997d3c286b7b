import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { B2bua, CallRecord } from '../b2bua';
import { parseHostPort } from '../config/host-port';
import type { Logger } from '../logging';
import type { RtpenginePool } from '../nat/rtpengine-pool';
import { flowTransport, type Registrar } from '../registrar';
import type { RunningSipServer } from '../sip-host';
import type { AdminConfig } from './config';
import { CallHistory } from './history';
import { PinholeMetrics } from './metrics';
import { NatObservations } from './nat-observations';
import { callRow, registrationPage, type CallRow } from './views';

export interface AdminSources {
  sipServer: RunningSipServer | null;
  registrar: Registrar;
  b2bua: B2bua;
  ngPool: RtpenginePool | null;
  logger: Logger;
  /** True while the drachtio-srf app is connected to its SIP server. */
  appConnected(): boolean;
  /** True once SIGTERM has started the drain. */
  draining(): boolean;
  softphoneUrl: string | null;
  version: string;
}

export interface AdminServer {
  url: string;
  metrics: PinholeMetrics;
  close(): Promise<void>;
}

const LOG_LEVELS = new Set(['error', 'warn', 'info', 'debug']);
const DASHBOARD_FILES = ['index.html', 'dashboard.js', 'dashboard.css'];
const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
/** Live calls a dashboard snapshot carries at most (each costs an rtpengine query per second). */
const LIVE_CALLS_SHOWN = 200;
const EVENT_INTERVAL_MS = 1000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Where the dashboard's files are: beside this module, or in the source tree (tsc copies no assets). */
function findDashboardDirectory(): string {
  const candidates = [
    path.join(__dirname, 'dashboard'),
    path.resolve(__dirname, '../../../src/admin/dashboard'),
  ];
  const found = candidates.find((dir) => DASHBOARD_FILES.every((f) => fs.existsSync(path.join(dir, f))));
  if (!found) throw new Error(`dashboard files not found; looked in ${candidates.join(', ')}`);
  return found;
}

/**
 * The operator's window into Pinhole: /healthz, /metrics, the JSON API under /api/ and the
 * dashboard page. Loopback by default; with a token every route but /healthz needs it.
 */
export async function startAdminServer(config: AdminConfig, sources: AdminSources): Promise<AdminServer> {
  const dashboardDir = findDashboardDirectory();
  const assets = new Map(
    DASHBOARD_FILES.map((file) => [
      file,
      { body: fs.readFileSync(path.join(dashboardDir, file)), type: MIME_TYPES[path.extname(file)] },
    ]),
  );
  const metrics = new PinholeMetrics(sources);
  const history = new CallHistory();
  const observations = new NatObservations();
  const records: CallRecord[] = [];
  const startedAt = Date.now();
  const onRecord = (record: CallRecord) => {
    metrics.observeRecord(record);
    history.add(record.finalStatus !== 200);
    observations.learn(record);
    if (config.recentRecords === 0) return;
    records.push(record);
    if (records.length > config.recentRecords) records.shift();
  };
  const onRefused = (refused: { status: number; reason: string }) => {
    metrics.observeRefused(refused);
    history.add(true);
  };
  const onChallenged = () => metrics.observeChallenged();
  sources.b2bua.on('call-record', onRecord);
  sources.b2bua.on('call-refused', onRefused);
  sources.b2bua.on('call-challenged', onChallenged);
  const events = new Set<http.ServerResponse>();

  const summary = async () => {
    await sources.sipServer?.refreshStats();
    const bindings = await sources.registrar.bindings();
    const byTransport: Record<string, number> = {};
    let natted = 0;
    for (const binding of bindings) {
      const transport = flowTransport(binding.flow);
      byTransport[transport] = (byTransport[transport] ?? 0) + 1;
      if (binding.nat.natted) natted++;
    }
    const stats = sources.sipServer?.stats();
    return {
      version: sources.version,
      startedAt,
      serverTime: Date.now(),
      logLevel: sources.logger.level,
      draining: sources.draining(),
      softphoneUrl: sources.softphoneUrl,
      sip: {
        listening: (sources.sipServer?.listeningPoints ?? []).map(
          (p) => `${p.protocol}://${p.address}:${p.port}`,
        ),
        transactions: stats ? stats.transactions.server + stats.transactions.client : 0,
        dialogs: stats?.dialogs ?? 0,
      },
      registrations: {
        bindings: bindings.length,
        aors: new Set(bindings.map((b) => b.aor)).size,
        byTransport,
        natted,
      },
      calls: sources.b2bua.stats(),
      rtpengine: sources.ngPool?.health() ?? [],
    };
  };

  const liveCalls = async (): Promise<CallRow[]> => {
    const calls = sources.b2bua.activeCalls().slice(0, LIVE_CALLS_SHOWN);
    return Promise.all(calls.map(async (call) => callRow(call, await call.mediaStats().catch(() => null))));
  };

  const health = () => {
    const checks = {
      sipServer: sources.sipServer === null || sources.sipServer.listeningPoints.length > 0,
      app: sources.appConnected(),
      rtpengine: sources.ngPool === null || sources.ngPool.health().some((member) => member.healthy),
      store: sources.registrar.storeHealthy(),
    };
    const up = Object.values(checks).every(Boolean);
    const status = sources.draining() ? 'draining' : up ? 'up' : 'down';
    return { status, checks, httpStatus: status === 'up' ? 200 : 503 };
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    const method = req.method ?? 'GET';
    const pathname = url.pathname;
    if (pathname === '/healthz') {
      const { httpStatus, ...body } = health();
      return sendJson(res, httpStatus, body);
    }
    // The page and its script hold no data; a browser cannot send the token when it opens them.
    if (pathname === '/' || pathname.startsWith('/dashboard/')) {
      const file = pathname === '/' ? 'index.html' : pathname.slice('/dashboard/'.length);
      const asset = assets.get(file);
      if (!asset || method !== 'GET') throw new HttpError(404, 'not found');
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type });
      res.end(asset.body);
      return;
    }
    authorize(req, url, config.token);
    if (pathname === '/metrics' && method === 'GET') {
      const text = await metrics.text();
      res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    if (pathname === '/api/summary' && method === 'GET') return sendJson(res, 200, await summary());
    if (pathname === '/api/registrations' && method === 'GET') {
      const page = registrationPage(
        await sources.registrar.bindings(),
        {
          q: url.searchParams.get('q') || undefined,
          transport: url.searchParams.get('transport') || undefined,
          natted: booleanParam(url.searchParams.get('natted')),
          offset: intParam(url.searchParams.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER),
          limit: intParam(url.searchParams.get('limit'), 100, 1, 1000),
        },
        observations,
      );
      return sendJson(res, 200, page);
    }
    if (pathname === '/api/registrations' && method === 'DELETE') {
      const aor = url.searchParams.get('aor');
      if (!aor) throw new HttpError(400, 'aor is required');
      const removed = await sources.registrar.unregister(aor, url.searchParams.get('contact') ?? undefined);
      sources.logger.info('admin removed binding', {
        aor,
        contact: url.searchParams.get('contact'),
        removed,
      });
      return sendJson(res, removed > 0 ? 200 : 404, { removed });
    }
    if (pathname === '/api/calls' && method === 'GET') {
      const state = url.searchParams.get('state');
      const needle = url.searchParams.get('q')?.toLowerCase();
      const items = (await liveCalls()).filter(
        (call) =>
          (!state || call.state === state) &&
          (!needle ||
            [call.id, call.from ?? '', call.to ?? ''].some((text) => text.toLowerCase().includes(needle))),
      );
      return sendJson(res, 200, { items });
    }
    if (pathname.startsWith('/api/calls/') && method === 'DELETE') {
      const id = decodePathPart(pathname.slice('/api/calls/'.length));
      const call = sources.b2bua.call(id);
      if (!call) throw new HttpError(404, `no call ${id}`);
      sources.logger.info('admin ended call', { callId: id });
      void call.hangup();
      return sendJson(res, 202, { ending: true });
    }
    if (pathname === '/api/records' && method === 'GET') {
      const limit = intParam(url.searchParams.get('limit'), 50, 1, 10_000);
      return sendJson(res, 200, { items: records.slice(-limit).reverse() });
    }
    if (pathname === '/api/history' && method === 'GET') return sendJson(res, 200, history.snapshot());
    if (pathname === '/api/log-level' && method === 'PUT') {
      const body = await readJson(req);
      const level = (body as { level?: unknown }).level;
      if (typeof level !== 'string' || !LOG_LEVELS.has(level))
        throw new HttpError(400, `level must be one of ${[...LOG_LEVELS].join(', ')}`);
      sources.logger.level = level;
      sources.logger.info('log level changed', { level });
      return sendJson(res, 200, { level });
    }
    if (pathname === '/api/log-level' && method === 'GET')
      return sendJson(res, 200, { level: sources.logger.level });
    if (pathname === '/api/events' && method === 'GET') {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-store',
        Connection: 'keep-alive',
      });
      events.add(res);
      req.on('close', () => events.delete(res));
      await pushSnapshot(res);
      return;
    }
    throw new HttpError(404, 'not found');
  };

  const pushSnapshot = async (only?: http.ServerResponse) => {
    const targets = only ? [only] : [...events];
    if (targets.length === 0) return;
    const data = JSON.stringify({ summary: await summary(), calls: await liveCalls() });
    for (const res of targets) res.write(`event: snapshot\ndata: ${data}\n\n`);
  };
  let pushing = false;
  const ticker = setInterval(() => {
    if (pushing || events.size === 0) return;
    pushing = true;
    pushSnapshot()
      .catch((err: Error) => sources.logger.warn('dashboard snapshot failed', { error: err.message }))
      .finally(() => (pushing = false));
  }, EVENT_INTERVAL_MS);
  ticker.unref();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    route(req, res, url).catch((err: unknown) => {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      sources.logger.warn('admin request failed', { url: url.pathname, error: (err as Error).message });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  const listen = parseHostPort(config.listen);
  if (!listen) throw new Error(`admin.listen ${config.listen} is not HOST:PORT`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  sources.logger.info('admin listening', { url, token: config.token ? 'required' : 'none' });
  return {
    url,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(ticker);
        sources.b2bua.off('call-record', onRecord);
        sources.b2bua.off('call-refused', onRefused);
        sources.b2bua.off('call-challenged', onChallenged);
        for (const res of events) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** EventSource cannot send headers, so /api/events alone also takes the token as a query parameter. */
function authorize(req: http.IncomingMessage, url: URL, token: string | undefined): void {
  if (!token) return;
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ')
    ? header.slice('Bearer '.length)
    : url.pathname === '/api/events'
      ? url.searchParams.get('token')
      : null;
  if (given !== token) throw new HttpError(401, 'bearer token required');
}

function decodePathPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, 'malformed %-escape in the path');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 65536) throw new HttpError(413, 'body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

function intParam(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new HttpError(400, `expected an integer ${min}..${max}`);
  return n;
}

function booleanParam(value: string | null): boolean | undefined {
  if (value === null || value === '') return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new HttpError(400, 'expected true or false');
}
