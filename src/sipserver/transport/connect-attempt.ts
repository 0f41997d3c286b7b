import type { TransportContext } from './connection';

/**
 * Runs one outbound connection attempt that ends on success, failure, `connectTimeoutMs`, or
 * shutdown of the transport layer, whichever comes first. `start` begins the attempt, reports
 * through `settle`, and returns how to abandon it.
 */
export function attemptConnection<T>(
  context: TransportContext,
  target: string,
  start: (settle: (err: Error | null, value?: T) => void) => () => void,
): Promise<T> {
  const { shutdown, options } = context;
  if (shutdown.aborted) return Promise.reject(new Error(`cannot connect to ${target}: transport is closed`));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      if (err) reject(err);
      else resolve(value as T);
    };
    let abandon = (): void => {};
    const giveUp = (why: string): void => {
      if (settled) return;
      abandon();
      finish(new Error(`cannot connect to ${target}: ${why}`));
    };
    const onShutdown = (): void => giveUp('transport is closed');
    const timer = setTimeout(
      () => giveUp(`no answer within ${options.connectTimeoutMs} ms`),
      options.connectTimeoutMs,
    );
    shutdown.addEventListener('abort', onShutdown);
    try {
      abandon = start((err, value) =>
        finish(err ? new Error(`cannot connect to ${target}: ${err.message}`) : null, value),
      );
    } catch (err) {
      finish(new Error(`cannot connect to ${target}: ${(err as Error).message}`));
    }
  });
}
