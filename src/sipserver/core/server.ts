import {
  createResponse,
  formatVia,
  parseMessage,
  parseNameAddr,
  SipParseError,
  SipRequest,
  SipResponse,
  type AnySipMessage,
} from '../message';
import { DEFAULT_TIMERS, systemClock, type Clock, type TimerSettings } from '../transaction/timers';
import { TransactionLayer } from '../transaction/transaction-layer';
import { parseListenUrl } from '../transport/listen-url';
import { TransportLayer } from '../transport/transport-layer';
import { type Flow, type ListeningPoint } from '../transport/types';
import { ControlListener } from '../wire/control-listener';
import type { AppSipCommand, ControlConnection } from '../wire/control-connection';
import { silentLogger, type WireLogger } from '../wire/logger';
import { parseSkeleton, SkeletonError } from '../wire/skeleton';
import { hostPort } from './completion';
import { CoreContext } from './context';
import { MessageTally, type MessageCounts } from './message-tally';
import { UacCore } from './uac-core';
import { UasCore } from './uas-core';

export interface EmbeddedSipServerOptions {
  /** SIP listeners, e.g. `udp://127.0.0.1:5060`, `ws://0.0.0.0:8088`. */
  listen: string[];
  control: { host: string; port: number; secret: string };
  /** Public address written in Via, Contact and Record-Route instead of the bound one. */
  advertise?: string;
  timers?: TimerSettings;
  tls?: { cert: string | Buffer; key: string | Buffer };
  maxMessageSize?: number;
  idleTimeoutMs?: number;
  logger?: WireLogger;
  clock?: Clock;
  /** Flood and scanner protection, consulted before any parsing or app work. */
  guard?: InboundGuard;
}

/** What the guard decides for a new out-of-dialog request. */
export type Admission =
  | { action: 'accept' }
  | { action: 'drop' }
  | { action: 'reject'; status: number; reason?: string; headers?: Record<string, string> };

/**
 * Flood protection plugged in by the embedding application. It sees traffic before apps do, so
 * a banned source costs a map lookup, not a parse and a round trip to the app.
 */
export interface InboundGuard {
  /** Every message from the network, before parsing; false drops it silently. */
  sourceAllowed(flow: Flow): boolean;
  /** A new request outside any dialog or transaction, before an app is picked. */
  admit(request: SipRequest, flow: Flow): Admission;
  /** An unparsable message arrived on this flow. */
  badInput(flow: Flow): void;
  /** An app answered an admitted request finally (a 403 after a challenge is a failed login). */
  answered(request: SipRequest, status: number, flow: Flow): void;
}

/** Methods routed to apps when they arrive outside a dialog (as drachtio-server routes them). */
const ROUTABLE_METHODS = new Set([
  'INVITE',
  'REGISTER',
  'MESSAGE',
  'OPTIONS',
  'INFO',
  'NOTIFY',
  'SUBSCRIBE',
  'PUBLISH',
]);
/** Requests that only make sense inside a dialog or transaction: 481 outside one. */
const DIALOG_ONLY_METHODS = new Set(['BYE', 'UPDATE', 'PRACK', 'CANCEL']);
const VERSION = 'pinhole-embedded-1.0';
const ALLOW = [...ROUTABLE_METHODS, 'ACK', 'BYE', 'CANCEL', 'UPDATE', 'PRACK', 'REFER'].join(', ');

export interface ServerStats {
  transactions: { server: number; client: number };
  dialogs: number;
  inboundRequests: number;
  outboundRequests: number;
  pendingAcks: number;
  apps: number;
  badInput: number;
  controlProtocolErrors: number;
  requestsReceived: number;
  responsesReceived: number;
  noAppAvailable: number;
  /** Messages dropped or rejected by the guard. */
  guarded: number;
  transport: { connectionsOpen: number; sent: number };
  received: MessageCounts;
  sent: MessageCounts;
}

/**
 * The embedded drachtio-compatible SIP server: transports, transactions and dialogs below,
 * the drachtio wire protocol above. Apps connect to it exactly as to drachtio-server.
 */
export class EmbeddedSipServer {
  readonly transport: TransportLayer;
  private readonly ctx: CoreContext;
  private readonly uas: UasCore;
  private readonly uac: UacCore;
  private readonly control: ControlListener;
  private readonly logger: WireLogger;
  private controlPort = 0;
  private readonly counters = {
    badInput: 0,
    requestsReceived: 0,
    responsesReceived: 0,
    noAppAvailable: 0,
    guarded: 0,
  };
  private readonly tally = new MessageTally();

  constructor(private readonly options: EmbeddedSipServerOptions) {
    this.logger = options.logger ?? silentLogger;
    const timers = options.timers ?? DEFAULT_TIMERS;
    const clock = options.clock ?? systemClock;
    this.transport = new TransportLayer({
      maxMessageSize: options.maxMessageSize,
      idleTimeoutMs: options.idleTimeoutMs,
      tls: options.tls,
      logger: this.logger,
      onSent: (data) => this.tally.countSent(data),
    });
    const transactions = new TransactionLayer({ sender: this.transport, timers, clock, logger: this.logger });
    this.ctx = new CoreContext(
      {
        advertise: options.advertise,
        onAnswered: options.guard && options.guard.answered.bind(options.guard),
      },
      this.transport,
      transactions,
      this.logger,
      timers,
      clock,
    );
    this.uas = new UasCore(this.ctx);
    this.uac = new UacCore(this.ctx);
    this.control = new ControlListener(
      { secret: options.control.secret, hostports: () => this.hostports(), version: VERSION },
      this.logger,
    );
    this.transport.on('message', (data: Buffer, flow: Flow) => this.onNetworkMessage(data, flow));
    this.transport.on('connection-closed', (flow: Flow) => {
      if (flow.connectionId) this.ctx.registeredFlows.forgetConnection(flow.connectionId);
    });
    this.control.on('sip', (app: ControlConnection, command: AppSipCommand) =>
      this.onAppCommand(app, command),
    );
  }

  async start(): Promise<void> {
    for (const url of this.options.listen)
      this.ctx.points.push(await this.transport.listen(parseListenUrl(url)));
    const address = await this.control.listen(this.options.control.host, this.options.control.port);
    this.controlPort = address.port;
    this.logger.info('drachtio control listening', { address: address.address, port: address.port });
  }

  async stop(): Promise<void> {
    for (const state of this.ctx.dialogState.values()) this.ctx.stopPendingAck(state);
    for (const entry of this.ctx.inbound.values()) this.uas.clearInboundTimers(entry);
    this.ctx.transactions.close();
    await this.control.close();
    await this.transport.close();
  }

  get listeningPoints(): ListeningPoint[] {
    return [...this.ctx.points];
  }

  get controlAddress(): { host: string; port: number } {
    return { host: this.options.control.host, port: this.controlPort };
  }

  stats(): ServerStats {
    let pendingAcks = 0;
    for (const state of this.ctx.dialogState.values()) if (state.pendingAck) pendingAcks++;
    return {
      transactions: { ...this.ctx.transactions.counts },
      dialogs: this.ctx.dialogs.size,
      inboundRequests: this.ctx.inbound.size,
      outboundRequests: this.ctx.outbound.size,
      pendingAcks,
      apps: this.control.connectedApps,
      badInput: this.counters.badInput + this.transport.stats.badInput,
      controlProtocolErrors: this.control.protocolErrors,
      requestsReceived: this.counters.requestsReceived,
      responsesReceived: this.counters.responsesReceived,
      noAppAvailable: this.counters.noAppAvailable,
      guarded: this.counters.guarded,
      transport: { connectionsOpen: this.transport.stats.connectionsOpen, sent: this.transport.stats.sent },
      received: this.tally.received,
      sent: this.tally.sent,
    };
  }

  private hostports(): string {
    return this.ctx.points.map((p) => `${p.protocol}/${hostPort(p, this.options.advertise)}`).join(',');
  }

  private onNetworkMessage(data: Buffer, flow: Flow): void {
    if (this.options.guard && !this.options.guard.sourceAllowed(flow)) {
      this.counters.guarded++;
      return;
    }
    let message: AnySipMessage;
    try {
      message = parseMessage(data, { stream: flow.protocol === 'tcp' || flow.protocol === 'tls' });
    } catch (err) {
      this.onUnparsable(err, flow);
      return;
    }
    this.tally.countReceived(message);
    try {
      if (message instanceof SipRequest) this.onNetworkRequest(message, flow);
      else this.onNetworkResponse(message as SipResponse, flow);
    } catch (err) {
      this.logger.warn('error handling a SIP message', {
        err: (err as Error).stack,
        source: flow.remoteAddress,
      });
    }
  }

  private onUnparsable(err: unknown, flow: Flow): void {
    this.counters.badInput++;
    this.options.guard?.badInput(flow);
    const reason = err instanceof Error ? err.message : String(err);
    this.logger.warn('malformed SIP message', {
      reason,
      source: `${flow.remoteAddress}:${flow.remotePort}`,
      protocol: flow.protocol,
    });
    if (!(err instanceof SipParseError) || !err.partial || err.partial.method === 'ACK') return;
    const partial = err.partial;
    if (
      !partial.has('via') ||
      !partial.has('call-id') ||
      !partial.has('cseq') ||
      !partial.has('from') ||
      !partial.has('to')
    )
      return;
    const response = createResponse(partial, err.status);
    response.append('Warning', `399 pinhole "${reason.replace(/["\\]/g, '')}"`);
    this.ctx.sendStateless(response, flow);
  }

  /** RFC 3581 and RFC 3261 §18.2.1: record where the request really came from in its top Via. */
  private stampVia(request: SipRequest, flow: Flow): void {
    const top = request.topVia;
    if (!top) return;
    top.params.set('received', flow.remoteAddress);
    top.params.set('rport', String(flow.remotePort));
    request.removeFirst('via');
    request.prepend('Via', formatVia(top));
  }

  private onNetworkRequest(request: SipRequest, flow: Flow): void {
    this.counters.requestsReceived++;
    this.stampVia(request, flow);
    const match = this.ctx.transactions.matchRequest(request, flow);
    switch (match.kind) {
      case 'retransmission':
      case 'ack-absorbed':
        return;
      case 'ack-2xx':
        this.uas.onAckFor2xx(request, flow);
        return;
      case 'new':
        break;
    }
    const method = request.method;
    if (method === 'ACK') {
      this.uas.onAckFor2xx(request, flow);
      return;
    }
    if (method === 'CANCEL') {
      this.uas.onNetworkCancel(request, flow);
      return;
    }
    if (request.toTag !== null) {
      this.uas.onInDialogRequest(request, flow);
      return;
    }
    if (!ROUTABLE_METHODS.has(method)) {
      if (DIALOG_ONLY_METHODS.has(method)) this.ctx.respondNew(request, flow, 481);
      // RFC 3261 §8.2.1: 405 is for a method we know but do not take here; an unknown one gets 501.
      else if (method === 'REFER') this.ctx.respondNew(request, flow, 405, { Allow: ALLOW });
      else this.ctx.respondNew(request, flow, 501, { Allow: ALLOW });
      return;
    }
    if (this.options.guard && !this.admitted(request, flow)) return;
    if (method === 'REGISTER') {
      const problem = registerProblem(request);
      if (problem) {
        this.ctx.respondNew(request, flow, 400, {}, `Bad Request - ${problem}`);
        return;
      }
    }
    const app = this.control.pick(method);
    if (!app) {
      this.counters.noAppAvailable++;
      this.ctx.respondNew(request, flow, 503, {}, 'Service Unavailable - no application');
      return;
    }
    this.uas.acceptNew(app, request, flow);
  }

  private admitted(request: SipRequest, flow: Flow): boolean {
    const admission = this.options.guard!.admit(request, flow);
    if (admission.action === 'accept') return true;
    this.counters.guarded++;
    if (admission.action === 'reject')
      this.ctx.respondNew(request, flow, admission.status, admission.headers, admission.reason);
    return false;
  }

  private onNetworkResponse(response: SipResponse, flow: Flow): void {
    this.counters.responsesReceived++;
    if (this.ctx.transactions.matchResponse(response, flow)) return;
    // A 2xx retransmitted after our INVITE transaction ended: the dialog re-sends its ACK.
    if (response.status >= 200 && response.status < 300 && response.cseq.method === 'INVITE') {
      const dialog = this.ctx.dialogs.findForRequest(response.callId, response.toTag, response.fromTag);
      if (dialog?.lastAck && dialog.ackCseq === response.cseq.seq)
        this.ctx.sendAckBuffer(dialog, dialog.lastAck);
    }
  }

  private onAppCommand(app: ControlConnection, command: AppSipCommand): void {
    let message: AnySipMessage;
    try {
      message = parseSkeleton(command.sip);
    } catch (err) {
      const reason = err instanceof SkeletonError ? err.message : String(err);
      this.logger.warn('unparsable SIP message from app', { app: app.id, reason });
      app.reply(command.msgId, `NOK|unparsable SIP message: ${reason}`);
      return;
    }
    const run = async () => {
      if (message instanceof SipResponse) this.uas.respondFromApp(app, command, message);
      else if (command.dialogId) this.uac.sendInDialog(app, command, message as SipRequest);
      else if (command.txnId) this.uac.cancelFromApp(app, command, message as SipRequest);
      else await this.uac.sendNewRequest(app, command, message as SipRequest);
    };
    run().catch((err: Error) => {
      this.logger.warn('app request failed', { app: app.id, err: err.message });
      app.reply(command.msgId, `NOK|${err.message.replace(/[|\r\n]/g, ' ')}`);
    });
  }
}

function registerProblem(request: SipRequest): string | null {
  const contacts = request.getAll('contact');
  for (const contact of contacts) {
    if (contact === '*') {
      if (contacts.length > 1) return 'Contact: * mixed with other contacts';
      if (request.get('expires')?.trim() !== '0') return 'Contact: * requires Expires: 0';
      continue;
    }
    try {
      parseNameAddr(contact);
    } catch {
      return 'invalid Contact';
    }
  }
  return null;
}
