import * as net from 'node:net';
import * as tls from 'node:tls';
import { StreamFramer } from '../message';
import { formatHostPort } from './address';
import { attemptConnection } from './connect-attempt';
import { socketFlow, type Connection, type TransportContext } from './connection';
import { IdleTimer } from './idle-timer';
import { CRLF_PONG } from './keepalive';
import { formatListenUrl } from './listen-url';
import { ManagedServer } from './server-lifecycle';
import type { Flow, ListeningPoint } from './types';

export type StreamProtocol = 'tcp' | 'tls';

/** A TCP or TLS connection cut into SIP messages by Content-Length (RFC 3261 §18.3). */
export class StreamConnection implements Connection {
  readonly flow: Flow;
  readonly whenClosed: Promise<void>;
  private readonly framer: StreamFramer;
  private readonly idle: IdleTimer;
  private open = true;

  constructor(
    readonly id: string,
    protocol: StreamProtocol,
    private readonly socket: net.Socket,
    private readonly context: TransportContext,
  ) {
    const { options, sink } = context;
    this.flow = socketFlow(protocol, socket, id);
    this.framer = new StreamFramer(options.maxMessageSize);
    this.idle = new IdleTimer(options.idleTimeoutMs, () => {
      options.logger.debug('closing idle connection', { connectionId: id });
      socket.destroy();
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) =>
      options.logger.debug('connection error', { connectionId: id, error: err.message }),
    );
    this.whenClosed = new Promise((resolve) =>
      socket.once('close', () => {
        this.open = false;
        this.idle.stop();
        // A peer that hangs up mid-message sent a truncated message: worth counting and logging.
        if (this.framer.buffered > 0)
          sink.badInput(
            `connection closed with ${this.framer.buffered} bytes of an unfinished message`,
            this.flow,
          );
        sink.closed(this);
        resolve();
      }),
    );
  }

  get isOpen(): boolean {
    return this.open && !this.socket.destroyed;
  }

  write(data: Buffer): Promise<void> {
    if (!this.isOpen) return Promise.reject(new Error(`connection ${this.id} is closed`));
    this.idle.touch();
    return new Promise((resolve, reject) =>
      this.socket.write(data, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Bytes already accepted by write() still reach the peer: the kernel sends them before the FIN. */
  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.idle.touch();
    const { sink } = this.context;
    for (const event of this.framer.push(chunk)) {
      // A 'message' listener may have closed us; what follows on a dead connection is moot.
      if (!this.isOpen) return;
      if (event.kind === 'message') {
        sink.message(event.data, this.flow);
      } else if (event.kind === 'keepalive') {
        this.socket.write(CRLF_PONG);
        sink.keepalive(this.flow);
      } else {
        // After a framing error the stream has no known message boundary left to resync on.
        sink.badInput(event.reason, this.flow);
        this.socket.destroy();
        return;
      }
    }
  }
}

/** A TCP or TLS server socket; every accepted connection becomes a StreamConnection. */
export class StreamListener {
  private constructor(
    readonly point: ListeningPoint,
    private readonly server: ManagedServer,
  ) {}

  static async open(point: ListeningPoint, context: TransportContext): Promise<StreamListener> {
    const protocol = point.protocol as StreamProtocol;
    const { options } = context;
    const url = formatListenUrl(point);
    let server: net.Server;
    if (protocol === 'tls') {
      if (!options.tls) throw new Error(`listener ${url} needs the tls option (cert and key)`);
      const tlsServer = tls.createServer({ cert: options.tls.cert, key: options.tls.key });
      tlsServer.on('secureConnection', (socket: tls.TLSSocket) => accept(socket, protocol, context));
      tlsServer.on('tlsClientError', (err) =>
        options.logger.debug('tls handshake failed', { listener: url, error: err.message }),
      );
      // Refuse before spending a handshake on a connection we would drop.
      tlsServer.on('connection', (socket: net.Socket) => {
        if (!context.acceptsConnection()) refuse(socket, url, context);
      });
      server = tlsServer;
    } else {
      server = net.createServer((socket) => {
        if (context.acceptsConnection()) accept(socket, protocol, context);
        else refuse(socket, url, context);
      });
    }
    const managed = new ManagedServer(server, (err) =>
      options.logger.warn('listener error', { listener: url, error: err.message }),
    );
    const port = await managed.listen(point.address, point.port);
    return new StreamListener({ ...point, port }, managed);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** Opens an outbound TCP or TLS connection; TLS checks the peer unless `tlsVerifyPeer` is false. */
export async function connectStream(
  protocol: StreamProtocol,
  address: string,
  port: number,
  context: TransportContext,
): Promise<StreamConnection> {
  const target = `${protocol}://${formatHostPort(address, port)}`;
  const socket = await attemptConnection<net.Socket>(context, target, (settle) => {
    const pending =
      protocol === 'tls'
        ? tls.connect({ host: address, port, rejectUnauthorized: context.options.tlsVerifyPeer })
        : net.connect({ host: address, port });
    const onError = (err: Error): void => {
      pending.destroy();
      settle(err);
    };
    pending.once('error', onError);
    pending.once(protocol === 'tls' ? 'secureConnect' : 'connect', () => {
      pending.off('error', onError);
      settle(null, pending);
    });
    return () => pending.destroy();
  });
  const connection = new StreamConnection(context.nextConnectionId(protocol), protocol, socket, context);
  context.sink.opened(connection);
  return connection;
}

function accept(socket: net.Socket, protocol: StreamProtocol, context: TransportContext): void {
  // A peer that reset during the handshake has no address left to describe it by.
  if (socket.destroyed || socket.remoteAddress === undefined) {
    socket.destroy();
    return;
  }
  const connection = new StreamConnection(context.nextConnectionId(protocol), protocol, socket, context);
  context.sink.opened(connection);
}

function refuse(socket: net.Socket, listener: string, context: TransportContext): void {
  context.options.logger.warn('refusing connection: too many open connections', {
    listener,
    remoteAddress: socket.remoteAddress,
    maxConnections: context.options.maxConnections,
  });
  socket.destroy();
}
