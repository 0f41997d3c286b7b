import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../logging';

/**
 * Serves the browser softphone: the page and its script (plain files next to this module's
 * source), a small JSON config telling the page where Pinhole's SIP WebSocket listens, and SIP.js
 * itself. SIP.js 0.21 ships only ES modules (lib/, relative `./x.js` imports, no bundle), so its
 * lib/ directory is served as-is under /sipjs/ and the page imports it with <script type="module">.
 */

export interface SoftphoneServerOptions {
  listen: { host: string; port: number };
  /** Serve over HTTPS: browsers grant microphones only to secure contexts (loopback aside). */
  tls?: { cert: Buffer; key: Buffer };
  /** Prefilled in the page, e.g. wss://pinhole.example.net:8089. */
  sipWebSocketUrl: string;
  logger: Logger;
}

export interface SoftphoneServer {
  /** Base URL of the page, with the bound port (useful with port 0). */
  url: string;
  close(): Promise<void>;
}

const PAGE_FILES = ['softphone.html', 'softphone.js'] as const;
const SIPJS_PREFIX = '/sipjs/';

/**
 * The page may talk to the SIP WebSocket on any host (it is configurable in the form), but loads
 * code only from here: a password is typed into it.
 */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; " +
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

const MIME_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

/**
 * Where softphone.html lives: next to this file when running from src/ (or when a build step copied
 * it into dist/), else in the source tree, since tsc emits dist/src/web/*.js but copies no assets.
 */
export function findPageDirectory(): string {
  const candidates = [__dirname, path.resolve(__dirname, '../../../src/web')];
  const found = candidates.find((dir) => PAGE_FILES.every((file) => fs.existsSync(path.join(dir, file))));
  if (!found) throw new Error(`softphone page not found; looked in ${candidates.join(', ')}`);
  return found;
}

/** SIP.js's lib/ directory, wherever node resolves the package from. */
export function findSipJsDirectory(): string {
  return path.join(path.dirname(require.resolve('sip.js/package.json')), 'lib');
}

interface Asset {
  body: Buffer;
  type: string;
}

export async function startSoftphoneServer(options: SoftphoneServerOptions): Promise<SoftphoneServer> {
  const pageDir = findPageDirectory();
  const sipJsDir = findSipJsDirectory();
  // Read up front so a broken install fails at startup rather than on the first visitor.
  const fixed = new Map<string, Asset>();
  for (const file of PAGE_FILES) {
    fixed.set(`/${file}`, {
      body: fs.readFileSync(path.join(pageDir, file)),
      type: MIME_TYPES[path.extname(file)],
    });
  }
  fixed.set('/', fixed.get('/softphone.html')!);
  fixed.set('/config.json', {
    body: Buffer.from(JSON.stringify({ sipWebSocketUrl: options.sipWebSocketUrl })),
    type: MIME_TYPES['.json'],
  });
  if (!fs.existsSync(path.join(sipJsDir, 'index.js')))
    throw new Error(`SIP.js not found at ${sipJsDir} (npm install sip.js)`);

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void serve(req, res, fixed, sipJsDir).catch((err: Error) => {
      options.logger.warn('softphone request failed', { url: req.url, error: err.message });
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  };
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const url = `${options.tls ? 'https' : 'http'}://${host}:${bound.port}/`;
  options.logger.info('softphone page served', { url, sipWebSocketUrl: options.sipWebSocketUrl });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  fixed: Map<string, Asset>,
  sipJsDir: string,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const pathname = new URL(req.url ?? '/', 'http://softphone').pathname;
  if (pathname === '/favicon.ico') {
    // Browsers ask for it on every visit; an empty answer keeps their consoles free of 404s.
    res.writeHead(204, SECURITY_HEADERS);
    res.end();
    return;
  }
  const asset = fixed.get(pathname) ?? (await sipJsAsset(pathname, sipJsDir));
  if (!asset) {
    send(res, 404, 'not found');
    return;
  }
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': asset.type,
    'Content-Length': asset.body.length,
  });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

/** A .js file under SIP.js's lib/, or null; nothing outside that directory is reachable. */
async function sipJsAsset(pathname: string, sipJsDir: string): Promise<Asset | null> {
  if (!pathname.startsWith(SIPJS_PREFIX) || !pathname.endsWith('.js')) return null;
  let relative: string;
  try {
    relative = decodeURIComponent(pathname.slice(SIPJS_PREFIX.length));
  } catch {
    return null;
  }
  const file = path.resolve(sipJsDir, relative);
  if (!file.startsWith(sipJsDir + path.sep)) return null;
  try {
    return { body: await fs.promises.readFile(file), type: MIME_TYPES['.js'] };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR')
      return null;
    throw err;
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}
