import type { Socket } from 'node:net';
import { normalizeAddress } from './address';
import type { ResolvedTransportOptions } from './options';
import type { Flow, TransportProtocol } from './types';

/** One open TCP, TLS, WS or WSS connection, whoever opened it. */
export interface Connection {
  readonly id: string;
  readonly flow: Flow;
  readonly isOpen: boolean;
  /** Resolves once the bytes are handed to the socket; rejects when the connection is gone. */
  write(data: Buffer): Promise<void>;
  /** Ends the connection; `TransportSink.closed` follows and `whenClosed` settles. */
  close(): void;
  readonly whenClosed: Promise<void>;
}

/** Where transports report what they receive; the transport layer turns these into events. */
export interface TransportSink {
  message(data: Buffer, flow: Flow): void;
  keepalive(flow: Flow): void;
  badInput(reason: string, flow: Flow): void;
  opened(connection: Connection): void;
  closed(connection: Connection): void;
}

/** What listeners and outbound connectors share with the transport layer. */
export interface TransportContext {
  readonly options: ResolvedTransportOptions;
  readonly sink: TransportSink;
  /** Aborted when the transport layer closes, so pending connection attempts stop. */
  readonly shutdown: AbortSignal;
  nextConnectionId(protocol: TransportProtocol): string;
  /** False when one more inbound connection would pass `maxConnections`. */
  acceptsConnection(): boolean;
}

/**
 * The flow of a connected socket. Its own local address, not a listener's 0.0.0.0, is what
 * the peer reached and what a Via or Record-Route should name.
 */
export function socketFlow(protocol: TransportProtocol, socket: Socket, connectionId?: string): Flow {
  const flow: Flow = {
    protocol,
    localAddress: normalizeAddress(socket.localAddress ?? ''),
    localPort: socket.localPort ?? 0,
    remoteAddress: normalizeAddress(socket.remoteAddress ?? ''),
    remotePort: socket.remotePort ?? 0,
  };
  if (connectionId !== undefined) flow.connectionId = connectionId;
  return flow;
}
