import { isUtf8 } from 'node:buffer';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { formatHostPort } from './address';
import { attemptConnection } from './connect-attempt';
import { socketFlow, type Connection, type TransportContext } from './connection';
import { IdleTimer } from './idle-timer';
import { asksForPong, CRLF_PONG, isKeepalive } from './keepalive';
import { formatListenUrl } from './listen-url';
import { ManagedServer } from './server-lifecycle';
import type { Flow, ListeningPoint } from './types';

export type WsProtocol = 'ws' | 'wss';

/** RFC 7118 §4: the only WebSocket subprotocol we speak. */
const SIP_SUBPROTOCOL = 'sip';

/** How long a close handshake may take before the socket is dropped. */
const CLOSE_GRACE_MS = 1000;

/** A WebSocket connection carrying one SIP message per WebSocket message (RFC 7118 §5). */
export class WsConnection implements Connection {
  readonly flow: Flow;
  readonly whenClosed: Promise<void>;
  private readonly idle: IdleTimer;

  constructor(
    readonly id: string,
    protocol: WsProtocol,
    private readonly ws: WebSocket,
    socket: net.Socket,
    private readonly context: TransportContext,
  ) {
    const { options, sink } = context;
    this.flow = socketFlow(protocol, socket, id);
    this.idle = new IdleTimer(options.idleTimeoutMs, () => {
      options.logger.debug('closing idle connection', { connectionId: id });
      ws.terminate();
    });
    ws.on('message', (data: RawData) => this.receive(asBuffer(data)));
    ws.on('ping', () => this.idle.touch());
    ws.on('pong', () => this.idle.touch());
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports what the peer sent wrong (oversize, bad UTF-8, bad framing) with WS_ERR_ codes and closes.
      if (err.code?.startsWith('WS_ERR_')) sink.badInput(`websocket: ${err.message}`, this.flow);
      else options.logger.debug('connection error', { connectionId: id, error: err.message });
    });
    this.whenClosed = new Promise((resolve) =>
      ws.once('close', () => {
        this.idle.stop();
        sink.closed(this);
        resolve();
      }),
    );
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  write(data: Buffer): Promise<void> {
    if (!this.isOpen) return Promise.reject(new Error(`connection ${this.id} is closed`));
    this.idle.touch();
    // Text frames are what browsers expect; a body that is not UTF-8 has to go as binary.
    return new Promise((resolve, reject) =>
      this.ws.send(data, { binary: !isUtf8(data) }, (err) => (err ? reject(err) : resolve())),
    );
  }

  close(): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private receive(data: Buffer): void {
    this.idle.touch();
    const { sink } = this.context;
    // SIP.js and others ping with CRLF over WebSocket too, and expect the RFC 5626 pong.
    if (isKeepalive(data)) {
      if (asksForPong(data) && this.isOpen) this.ws.send(CRLF_PONG, { binary: false });
      sink.keepalive(this.flow);
      return;
    }
    sink.message(data, this.flow);
  }
}

/** An HTTP(S) server that upgrades requests offering the `sip` subprotocol to WsConnections. */
export class WsListener {
  private constructor(
    readonly point: ListeningPoint,
    private readonly server: ManagedServer,
  ) {}

  static async open(point: ListeningPoint, context: TransportContext): Promise<WsListener> {
    const protocol = point.protocol as WsProtocol;
    const { options } = context;
    const url = formatListenUrl(point);
    if (protocol === 'wss' && !options.tls)
      throw new Error(`listener ${url} needs the tls option (cert and key)`);
    const httpServer =
      protocol === 'wss'
        ? https.createServer({ cert: options.tls?.cert, key: options.tls?.key })
        : http.createServer();
    const wsServer = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxMessageSize,
      handleProtocols: (offered) => (offered.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    httpServer.on('request', (_req, res: http.ServerResponse) => {
      res.writeHead(426, { Upgrade: 'websocket', Connection: 'close', 'Content-Type': 'text/plain' });
      res.end('SIP over WebSocket only (RFC 7118)\n');
    });
    httpServer.on('clientError', (_err, socket: Duplex) => socket.destroy());
    httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      upgrade(req, socket as net.Socket, head, protocol, wsServer, context),
    );
    const managed = new ManagedServer(httpServer, (err) =>
      options.logger.warn('listener error', { listener: url, error: err.message }),
    );
    const port = await managed.listen(point.address, point.port);
    return new WsListener({ ...point, port }, managed);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** Opens an outbound WebSocket connection offering only the `sip` subprotocol. */
export async function connectWs(
  protocol: WsProtocol,
  address: string,
  port: number,
  context: TransportContext,
): Promise<WsConnection> {
  const { options } = context;
  const url = `${protocol}://${formatHostPort(address, port)}/`;
  const { ws, socket } = await attemptConnection<{ ws: WebSocket; socket: net.Socket }>(
    context,
    url,
    (settle) => {
      const pending = new WebSocket(url, SIP_SUBPROTOCOL, {
        perMessageDeflate: false,
        maxPayload: options.maxMessageSize,
        rejectUnauthorized: options.tlsVerifyPeer,
      });
      let socket: net.Socket | undefined;
      const onError = (err: Error): void => settle(err);
      pending.once('upgrade', (response: http.IncomingMessage) => {
        socket = response.socket as net.Socket;
      });
      pending.on('error', onError);
      pending.once('open', () => {
        pending.off('error', onError);
        if (socket) settle(null, { ws: pending, socket });
        else settle(new Error('the WebSocket opened without an upgrade response'));
      });
      return () => pending.terminate();
    },
  );
  const connection = new WsConnection(context.nextConnectionId(protocol), protocol, ws, socket, context);
  context.sink.opened(connection);
  return connection;
}

function upgrade(
  req: http.IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  protocol: WsProtocol,
  wsServer: WebSocketServer,
  context: TransportContext,
): void {
  const { options, sink } = context;
  // The HTTP server stops watching the socket once it is handed to us.
  socket.on('error', (err) => options.logger.debug('websocket handshake error', { error: err.message }));
  if (!offersSip(req.headers['sec-websocket-protocol'])) {
    sink.badInput(
      'WebSocket handshake without the sip subprotocol (RFC 7118 §4)',
      socketFlow(protocol, socket),
    );
    refuseHandshake(socket, 400, 'the sip WebSocket subprotocol is required (RFC 7118)');
    return;
  }
  if (!context.acceptsConnection()) {
    options.logger.warn('refusing connection: too many open connections', {
      remoteAddress: socket.remoteAddress,
      maxConnections: options.maxConnections,
    });
    refuseHandshake(socket, 503, 'too many connections');
    return;
  }
  wsServer.handleUpgrade(req, socket, head, (ws) => {
    if (socket.destroyed || socket.remoteAddress === undefined) {
      ws.terminate();
      return;
    }
    const connection = new WsConnection(context.nextConnectionId(protocol), protocol, ws, socket, context);
    sink.opened(connection);
  });
}

function offersSip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((token) => token.trim() === SIP_SUBPROTOCOL);
}

function refuseHandshake(socket: net.Socket, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
