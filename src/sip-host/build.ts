import { Guard } from '../guard/guard';
import { EmbeddedSipServer, type WireLogger } from '../sipserver';
import type { SipThreadSetup } from './protocol';

export interface BuiltSipServer {
  server: EmbeddedSipServer;
  guard: Guard | null;
  /** Stops both (also after a failed start). */
  stop(): Promise<void>;
}

/** The embedded server and the guard in front of it, as configured; not started yet. */
export function buildSipServer(
  setup: SipThreadSetup,
  loggers: { server: WireLogger; guard: WireLogger },
): BuiltSipServer {
  const guard = setup.guard ? new Guard(setup.guard, loggers.guard) : null;
  const server = new EmbeddedSipServer({
    listen: setup.listen,
    control: setup.control,
    advertise: setup.advertise,
    timers: setup.timers,
    // From a worker's setup, structured cloning has turned the Buffers into plain Uint8Arrays.
    tls: setup.tls && { cert: Buffer.from(setup.tls.cert), key: Buffer.from(setup.tls.key) },
    maxMessageSize: setup.maxMessageSize,
    idleTimeoutMs: setup.idleTimeoutMs,
    logger: loggers.server,
    guard: guard ?? undefined,
  });
  return {
    server,
    guard,
    async stop() {
      guard?.close();
      await server.stop();
    },
  };
}
