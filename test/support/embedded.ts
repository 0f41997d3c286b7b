import Srf from 'drachtio-srf';
import { EmbeddedSipServer, type EmbeddedSipServerOptions } from '../../src/sipserver';
import { allocatePort } from './ports';

export const SECRET = 'test-secret';

export interface EmbeddedHarness {
  server: EmbeddedSipServer;
  /** The SIP port (same number for every listener's protocol except ws). */
  sipPort: number;
  wsPort: number;
  connectApp(): Promise<Srf>;
  stop(): Promise<void>;
}

/**
 * An embedded SIP server on loopback with UDP, TCP and WS listeners on fresh ports, and real
 * drachtio-srf apps connected to it over the wire protocol.
 */
export async function startEmbedded(
  overrides: Partial<EmbeddedSipServerOptions> = {},
): Promise<EmbeddedHarness> {
  const sipPort = await allocatePort();
  const wsPort = await allocatePort();
  const server = new EmbeddedSipServer({
    listen: [`udp://127.0.0.1:${sipPort}`, `tcp://127.0.0.1:${sipPort}`, `ws://127.0.0.1:${wsPort}`],
    control: { host: '127.0.0.1', port: 0, secret: SECRET },
    ...overrides,
  });
  await server.start();
  const apps: Srf[] = [];
  return {
    server,
    sipPort,
    wsPort,
    async connectApp() {
      const srf = new Srf();
      apps.push(srf);
      await new Promise<void>((resolve, reject) => {
        srf.once('connect', (err: Error | null) => (err ? reject(err) : resolve()));
        srf.connect({ ...server.controlAddress, secret: SECRET });
      });
      return srf;
    },
    async stop() {
      for (const app of apps) app.disconnect();
      await server.stop();
    },
  };
}

/** Polls until `check` holds, or fails with `what` after `timeoutMs`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface SentRequest {
  on(event: 'response', listener: (res: { status: number; get(name: string): string }) => void): void;
}
type RequestFn = (
  uri: string,
  opts: { method: string },
  cb: (err: unknown, req: SentRequest) => void,
) => void;

/** srf.request() with the callback form (which sees every response), resolving with the final status. */
export function requestStatus(srf: Srf, uri: string, method: string): Promise<number> {
  const request = (srf.request as unknown as RequestFn).bind(srf);
  return new Promise((resolve, reject) => {
    request(uri, { method }, (err, req) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      req.on('response', (res) => {
        if (res.status >= 200) resolve(res.status);
      });
    });
  });
}
