import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { encodeFrame, FrameDecoder, FrameError } from './frame-decoder';
import type { WireLogger } from './logger';

/** A `sip` command from an app: a response, an in-dialog request, a CANCEL or a new request. */
export interface AppSipCommand {
  msgId: string;
  txnId: string;
  dialogId: string;
  /** Outbound proxy the app asked for (`opts.proxy`), if any. */
  routeUrl: string;
  /** The raw SIP skeleton that followed the leader line. */
  sip: string;
}

export interface ControlIdentity {
  secret: string;
  /** `udp/1.2.3.4:5060,tcp/…`, reported to apps on authenticate. */
  hostports(): string;
  version: string;
}

const CRLF = '\r\n';

/**
 * One app connected over the drachtio wire protocol (`notes/drachtio-wire-protocol.md` §1):
 * authentication, route registration, pings, and `sip` commands handed to the server core.
 * Emits 'sip' (AppSipCommand), 'authenticated', 'close'.
 */
export class ControlConnection extends EventEmitter {
  readonly id: string;
  authenticated = false;
  tags: string[] = [];
  private readonly routes = new Set<string>();
  private readonly decoder = new FrameDecoder();
  private closed = false;
  private corked = false;

  constructor(
    private readonly socket: Socket,
    private readonly identity: ControlIdentity,
    private readonly logger: WireLogger,
    private readonly onProtocolError: (reason: string) => void,
  ) {
    super();
    this.id = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) =>
      this.logger.debug('control connection error', { app: this.id, err: err.message }),
    );
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  wants(method: string): boolean {
    return this.authenticated && this.routes.has(method.toLowerCase());
  }

  /** Sends a server-initiated frame (`sip` notices); the message id is generated here. */
  notify(leader: string, sip?: Buffer | string): void {
    this.write(`${randomUUID()}|${leader}${sip === undefined ? '' : CRLF + sip.toString()}`);
  }

  /** Answers one of the app's commands. */
  reply(msgId: string, body: string, sip?: Buffer | string): void {
    this.write(`${randomUUID()}|response|${msgId}|${body}${sip === undefined ? '' : CRLF + sip.toString()}`);
  }

  close(): void {
    this.socket.destroy();
  }

  private write(payload: string): void {
    if (this.closed) return;
    if (!this.corked) {
      // Frames written in one turn of the event loop leave in one writev, not a syscall each.
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encodeFrame(payload), 'utf8');
  }

  private onData(chunk: Buffer): void {
    let frames: string[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.protocolError(err instanceof FrameError ? `bad framing: ${err.message}` : String(err));
      return;
    }
    for (const frame of frames) {
      try {
        this.onFrame(frame);
      } catch (err) {
        this.logger.warn('error handling a control message', { app: this.id, err: (err as Error).stack });
      }
      if (this.closed) return;
    }
  }

  private onFrame(payload: string): void {
    const eol = payload.indexOf(CRLF);
    const leader = eol < 0 ? payload : payload.slice(0, eol);
    const tokens = leader.split('|');
    const [msgId, kind] = tokens;
    if (!msgId || !kind) {
      this.protocolError('message without id and type');
      return;
    }
    if (!this.authenticated) {
      if (kind !== 'authenticate') {
        this.protocolError(`'${kind.slice(0, 40)}' before authenticate`);
        return;
      }
      this.authenticate(msgId, tokens[2] ?? '', tokens[3] ?? '');
      return;
    }
    switch (kind) {
      case 'authenticate':
        this.reply(msgId, 'NOK|already authenticated');
        break;
      case 'route':
        if (tokens[2]) this.routes.add(tokens[2].toLowerCase());
        this.reply(msgId, 'OK');
        break;
      case 'remove_route':
        if (tokens[2]) this.routes.delete(tokens[2].toLowerCase());
        this.reply(msgId, 'OK');
        break;
      case 'ping':
        this.reply(msgId, 'OK|pong');
        break;
      case 'sip':
        this.emit('sip', {
          msgId,
          txnId: tokens[2] ?? '',
          dialogId: tokens[3] ?? '',
          routeUrl: tokens[4] ?? '',
          sip: eol < 0 ? '' : payload.slice(eol + 2),
        } satisfies AppSipCommand);
        break;
      case 'proxy':
        this.reply(
          msgId,
          'NOK|proxy is not supported by the embedded SIP server: use createB2BUA or a drachtio-server',
        );
        break;
      default:
        this.onProtocolError(`unknown command '${kind.slice(0, 40)}'`);
        this.reply(msgId, `NOK|unknown command ${kind.slice(0, 40)}`);
    }
  }

  private authenticate(msgId: string, secret: string, tags: string): void {
    const expected = Buffer.from(this.identity.secret);
    const given = Buffer.from(secret);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      this.logger.warn('control connection refused: incorrect secret', { app: this.id });
      this.onProtocolError('incorrect secret');
      this.reply(msgId, 'NO|incorrect secret');
      this.socket.end();
      return;
    }
    this.authenticated = true;
    this.tags = tags ? tags.split(',') : [];
    const hostports = this.identity.hostports();
    this.reply(msgId, `OK|${hostports}|${this.identity.version}|${hostports}`);
    this.logger.info('app connected', { app: this.id });
    this.emit('authenticated');
  }

  private protocolError(reason: string): void {
    this.logger.warn('control connection dropped', { app: this.id, reason });
    this.onProtocolError(reason);
    this.socket.destroy();
  }
}
