import { EventEmitter } from 'node:events';
import { addressFamily, normalizeAddress } from './address';
import type { Connection, TransportContext, TransportSink } from './connection';
import { connectionKey, ConnectionTable } from './connection-table';
import { formatListenUrl } from './listen-url';
import { resolveTransportOptions, type ResolvedTransportOptions, type TransportOptions } from './options';
import { connectStream, StreamListener } from './stream-transport';
import type { Flow, ListeningPoint, MessageSender, SendTarget, TransportProtocol } from './types';
import { LocalRoutes } from './local-routes';
import { chooseUdpListener, UdpListener } from './udp-transport';
import { connectWs, WsListener } from './ws-transport';

export { parseListenUrl, formatListenUrl } from './listen-url';
export type { TransportLogger, TransportOptions } from './options';

export interface TransportStats {
  /** SIP messages handed to 'message' listeners. */
  received: number;
  /** SIP messages sent (keepalive pongs are not counted). */
  sent: number;
  /** Oversize messages, framing errors, bad WebSocket frames and refused handshakes. */
  badInput: number;
  /** CRLF keepalives received, on any transport. */
  keepalives: number;
  connectionsOpen: number;
}

type Listener = UdpListener | StreamListener | WsListener;

/**
 * The SIP transport layer (RFC 3261 §18): UDP, TCP, TLS, WS and WSS listeners, the table of
 * open connections, and `send`, which picks or opens the connection a message goes out on.
 *
 * Events: 'message' (data: Buffer, flow: Flow) for each whole SIP message; 'bad-input'
 * (reason: string, flow: Flow) for input that was refused; 'connection-closed' (flow: Flow)
 * when a TCP/TLS/WS/WSS connection goes away, whichever side closed it. A connection's flow
 * is one shared object for all its messages: read it, copy it, never change it.
 */
export class TransportLayer extends EventEmitter implements MessageSender {
  private readonly options: ResolvedTransportOptions;
  private readonly context: TransportContext;
  private readonly table = new ConnectionTable();
  /** Outbound connection attempts in progress, so concurrent sends to one peer share one. */
  private readonly connecting = new Map<string, Promise<Connection>>();
  private readonly bound: Listener[] = [];
  /** Which local address suits which destination, read once from the host's interfaces. */
  readonly routes = new LocalRoutes();
  private readonly shutdown = new AbortController();
  private readonly counters = { received: 0, sent: 0, badInput: 0, keepalives: 0 };
  private connectionsMade = 0;

  constructor(options?: TransportOptions) {
    super();
    this.options = resolveTransportOptions(options);
    this.context = {
      options: this.options,
      sink: this.createSink(),
      shutdown: this.shutdown.signal,
      nextConnectionId: (protocol) => `${protocol}-${++this.connectionsMade}`,
      acceptsConnection: () => !this.shutdown.signal.aborted && this.table.size < this.options.maxConnections,
    };
  }

  get stats(): TransportStats {
    return { ...this.counters, connectionsOpen: this.table.size };
  }

  /** Binds a listener; port 0 binds an ephemeral port, reported in the result. */
  async listen(point: ListeningPoint): Promise<ListeningPoint> {
    this.assertOpen();
    const address = normalizeAddress(point.address);
    if (addressFamily(address) === 0)
      throw new Error(`listen address "${point.address}" is not an IP address`);
    if (!Number.isInteger(point.port) || point.port < 0 || point.port > 65535)
      throw new Error(`listen port ${point.port} is out of range`);
    const requested: ListeningPoint = { protocol: point.protocol, address, port: point.port };
    const listener = await this.openListener(requested);
    if (this.shutdown.signal.aborted) {
      await listener.close();
      throw new Error('transport closed while the listener was opening');
    }
    this.bound.push(listener);
    this.options.logger.info('listening', { url: formatListenUrl(listener.point) });
    return { ...listener.point };
  }

  listeningPoints(): ListeningPoint[] {
    return this.bound.map((listener) => ({ ...listener.point }));
  }

  /**
   * Sends one SIP message. UDP leaves from a listener (the one the target names, if any);
   * other transports use the target's connection while it is open, else an open connection to
   * the same address and port, else a new outbound connection (RFC 3261 §18.1.1, §18.2.2).
   */
  async send(data: Buffer, target: SendTarget): Promise<Flow> {
    this.assertOpen();
    if (data.length > this.options.maxMessageSize)
      throw new Error(
        `message of ${data.length} bytes exceeds the maximum of ${this.options.maxMessageSize}`,
      );
    const address = normalizeAddress(target.address);
    if (addressFamily(address) === 0) throw new Error(`send target "${target.address}" is not an IP address`);
    let flow: Flow;
    if (target.protocol === 'udp') {
      const udpListeners = this.bound.filter((listener) => listener instanceof UdpListener);
      const listener = chooseUdpListener(udpListeners, address, target, this.routes);
      if (!listener) throw new Error(`no udp listener can send to ${address}`);
      flow = await listener.send(data, address, target.port);
    } else {
      const connection = await this.connectionFor(target, address);
      await connection.write(data);
      flow = connection.flow;
    }
    this.counters.sent++;
    this.options.onSent?.(data);
    return flow;
  }

  hasConnection(connectionId: string): boolean {
    return this.table.byId(connectionId)?.isOpen ?? false;
  }

  closeConnection(connectionId: string): void {
    this.table.byId(connectionId)?.close();
  }

  /**
   * Closes every connection ('connection-closed' fires for each), then every listener;
   * pending connection attempts fail. WebSocket peers get a close frame and a moment to answer.
   */
  async close(): Promise<void> {
    this.shutdown.abort();
    const connections = this.table.all();
    for (const connection of connections) connection.close();
    await Promise.all(connections.map((connection) => connection.whenClosed));
    const listeners = this.bound.splice(0);
    await Promise.all(listeners.map((listener) => listener.close()));
  }

  private openListener(point: ListeningPoint): Promise<Listener> {
    switch (point.protocol) {
      case 'udp':
        return UdpListener.open(point, this.context);
      case 'tcp':
      case 'tls':
        return StreamListener.open(point, this.context);
      case 'ws':
      case 'wss':
        return WsListener.open(point, this.context);
      default:
        throw new Error(`unknown transport protocol "${String(point.protocol)}"`);
    }
  }

  private async connectionFor(target: SendTarget, address: string): Promise<Connection> {
    const { protocol, port, connectionId } = target;
    if (connectionId !== undefined) {
      const named = this.table.byId(connectionId);
      if (named?.isOpen) return named;
      if (protocol === 'ws' || protocol === 'wss')
        throw new Error(
          `connection ${connectionId} is closed; a WebSocket client can only be reached on a connection it opens`,
        );
    }
    const existing = this.table.byAddress(protocol, address, port);
    if (existing?.isOpen) return existing;
    const key = connectionKey(protocol, address, port);
    let pending = this.connecting.get(key);
    if (!pending) {
      pending = this.connect(protocol, address, port).finally(() => this.connecting.delete(key));
      this.connecting.set(key, pending);
    }
    return pending;
  }

  private connect(protocol: TransportProtocol, address: string, port: number): Promise<Connection> {
    switch (protocol) {
      case 'tcp':
      case 'tls':
        return connectStream(protocol, address, port, this.context);
      case 'ws':
      case 'wss':
        return connectWs(protocol, address, port, this.context);
      default:
        return Promise.reject(new Error(`cannot open a connection over ${protocol}`));
    }
  }

  private createSink(): TransportSink {
    const { logger } = this.options;
    return {
      message: (data, flow) => {
        this.counters.received++;
        this.emitSafely('message', data, flow);
      },
      keepalive: () => {
        this.counters.keepalives++;
      },
      badInput: (reason, flow) => {
        this.counters.badInput++;
        logger.warn(`bad input: ${reason}`, { ...flow });
        this.emitSafely('bad-input', reason, flow);
      },
      opened: (connection) => {
        this.table.add(connection);
        logger.debug('connection opened', { ...connection.flow });
        // It raced with close(); it must not outlive the transport.
        if (this.shutdown.signal.aborted) connection.close();
      },
      closed: (connection) => {
        if (!this.table.remove(connection)) return;
        logger.debug('connection closed', { ...connection.flow });
        this.emitSafely('connection-closed', connection.flow);
      },
    };
  }

  /** A listener that throws must not unwind into a socket callback and take other peers down. */
  private emitSafely(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.options.logger.warn(`a '${event}' listener threw`, { error: (err as Error).message });
    }
  }

  private assertOpen(): void {
    if (this.shutdown.signal.aborted) throw new Error('transport layer is closed');
  }
}
