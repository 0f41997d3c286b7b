import type { Logger } from '../logging';
import { startInThread } from './in-thread';
import type { SipThreadSetup } from './protocol';
import type { RunningSipServer } from './running-server';
import { SipServerThread } from './sip-server-thread';

export type { RunningSipServer } from './running-server';
export type { SipThreadSetup } from './protocol';

/**
 * Starts the embedded SIP server in a worker thread (the default: a second core parses, times and
 * sends SIP) or in the app's thread. `onThreadExit` hears of a worker that ended on its own.
 */
export async function startEmbeddedSipServer(
  setup: SipThreadSetup,
  thread: 'worker' | 'main',
  logger: Logger,
  onThreadExit: (err: Error) => void,
): Promise<RunningSipServer> {
  if (thread === 'main') return startInThread(setup, logger);
  const server = new SipServerThread(setup, logger);
  server.on('exit', onThreadExit);
  await server.start();
  return server;
}
