import type { Logger } from '../logging';
import { buildSipServer } from './build';
import type { SipThreadSetup } from './protocol';
import type { RunningSipServer } from './running-server';

/** The embedded server and its guard in the app's own thread (`sip.thread: main`). */
export async function startInThread(setup: SipThreadSetup, logger: Logger): Promise<RunningSipServer> {
  const { server, guard, stop } = buildSipServer(setup, {
    server: logger.child({ component: 'sipserver' }),
    guard: logger.child({ component: 'guard' }),
  });
  try {
    await server.start();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    get listeningPoints() {
      return server.listeningPoints;
    },
    get controlAddress() {
      return server.controlAddress;
    },
    stats: () => server.stats(),
    refreshStats: () => Promise.resolve(server.stats()),
    guardStats: () => guard?.stats() ?? null,
    eventLoopUtilization: () => null,
    stop,
  };
}
