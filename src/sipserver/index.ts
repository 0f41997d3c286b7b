export {
  EmbeddedSipServer,
  type EmbeddedSipServerOptions,
  type ServerStats,
  type InboundGuard,
  type Admission,
} from './core/server';
export type { MessageCounts } from './core/message-tally';
export { parseListenUrl } from './transport/listen-url';
export type { TimerSettings } from './transaction/timers';
export type { WireLogger } from './wire/logger';
