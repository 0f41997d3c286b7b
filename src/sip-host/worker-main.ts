/**
 * The embedded SIP server's own thread: transports, transactions, dialogs, the guard and the
 * drachtio control listener run here, so parsing, timers and socket writes use a second core
 * while the app's thread runs registrations and calls. The app still reaches it only through the
 * drachtio wire protocol on the control port, exactly as it would reach a drachtio-server.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildSipServer } from './build';
import { IdleCollector } from './idle-collector';
import type { FromSipThread, LogLevel, SipThreadSetup, ToSipThread } from './protocol';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

const port = parentPort!;
const setup = workerData as SipThreadSetup;
const post = (message: FromSipThread) => port.postMessage(message);

/** Log entries go to the app's thread, whose logger writes them; off levels cost one comparison. */
class ThreadLogger {
  private rank: number;
  constructor(
    level: LogLevel,
    private readonly component: string,
  ) {
    this.rank = RANK[level];
  }
  setLevel(level: LogLevel): void {
    this.rank = RANK[level];
  }
  warn(message: string, meta?: object): void {
    this.write('warn', message, meta);
  }
  info(message: string, meta?: object): void {
    this.write('info', message, meta);
  }
  debug(message: string, meta?: object): void {
    this.write('debug', message, meta);
  }
  private write(level: LogLevel, message: string, meta?: object): void {
    if (RANK[level] > this.rank) return;
    post({ type: 'log', level, message, meta: { component: this.component, ...meta } });
  }
}

const loggers = [new ThreadLogger(setup.logLevel, 'sipserver'), new ThreadLogger(setup.logLevel, 'guard')];
const [serverLogger, guardLogger] = loggers;
const { server, guard, stop } = buildSipServer(setup, { server: serverLogger, guard: guardLogger });

const idleCollector = new IdleCollector(() => {
  const stats = server.stats();
  return {
    messages: stats.requestsReceived + stats.responsesReceived,
    transactions: stats.transactions.server + stats.transactions.client,
  };
});

/** Counters every statsIntervalMs; the guard's tables (bans can be many) only when asked for. */
const sendStats = (id?: number) =>
  post({
    type: 'stats',
    id,
    stats: server.stats(),
    guard: id === undefined ? undefined : (guard?.stats() ?? null),
  });
let statsTimer: NodeJS.Timeout | null = null;

port.on('message', (message: ToSipThread) => {
  switch (message.type) {
    case 'stats':
      sendStats(message.id);
      break;
    case 'log-level':
      for (const logger of loggers) logger.setLevel(message.level);
      break;
    case 'stop':
      if (statsTimer) clearInterval(statsTimer);
      idleCollector.stop();
      void stop().finally(() => post({ type: 'stopped' }));
      break;
  }
});

server.start().then(
  () => {
    sendStats();
    post({
      type: 'started',
      controlPort: server.controlAddress.port,
      listeningPoints: server.listeningPoints,
    });
    statsTimer = setInterval(() => sendStats(), setup.statsIntervalMs);
    idleCollector.start();
  },
  (err: Error) => {
    void stop().finally(() => post({ type: 'failed', message: err.message }));
  },
);
