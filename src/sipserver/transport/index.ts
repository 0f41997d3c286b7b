export * from './types';
export { TransportLayer, parseListenUrl, formatListenUrl } from './transport-layer';
export type { TransportLogger, TransportOptions, TransportStats } from './transport-layer';
