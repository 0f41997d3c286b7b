export interface TransportLogger {
  info(msg: string, meta?: object): void;
  warn(msg: string, meta?: object): void;
  debug(msg: string, meta?: object): void;
}

export interface TransportOptions {
  /** Larger UDP datagrams, stream messages and WebSocket messages are refused. Default 65535. */
  maxMessageSize?: number;
  /** A connection with no traffic either way for this long is closed. Default one hour. */
  idleTimeoutMs?: number;
  /** New inbound connections past this many open ones are refused. Default 10,000. */
  maxConnections?: number;
  /** Certificate and key for tls:// and wss:// listeners. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Check the certificate of peers we connect to over TLS/WSS. Default true. */
  tlsVerifyPeer?: boolean;
  /** Give up an outbound connection attempt (including TLS/WS handshakes) after this long. Default 10 s. */
  connectTimeoutMs?: number;
  logger?: TransportLogger;
  /** Sees every message after it was handed to the network (for counting). */
  onSent?: (data: Buffer) => void;
}

export interface ResolvedTransportOptions {
  maxMessageSize: number;
  idleTimeoutMs: number;
  maxConnections: number;
  tls?: { cert: string | Buffer; key: string | Buffer };
  tlsVerifyPeer: boolean;
  connectTimeoutMs: number;
  logger: TransportLogger;
  onSent?: (data: Buffer) => void;
}

const silentLogger: TransportLogger = { info: () => {}, warn: () => {}, debug: () => {} };

export function resolveTransportOptions(options: TransportOptions = {}): ResolvedTransportOptions {
  return {
    maxMessageSize: positive(options.maxMessageSize, 65535, 'maxMessageSize'),
    idleTimeoutMs: positive(options.idleTimeoutMs, 3_600_000, 'idleTimeoutMs'),
    maxConnections: positive(options.maxConnections, 10_000, 'maxConnections'),
    tls: options.tls,
    tlsVerifyPeer: options.tlsVerifyPeer ?? true,
    connectTimeoutMs: positive(options.connectTimeoutMs, 10_000, 'connectTimeoutMs'),
    logger: options.logger ?? silentLogger,
    onSent: options.onSent,
  };
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`transport option ${name} must be a positive number`);
  return value;
}
