export { EmbeddedSipServer, type EmbeddedSipServerOptions, type ServerStats } from './core/server';
export { parseListenUrl } from './transport/listen-url';
export type { TimerSettings } from './transaction/timers';
