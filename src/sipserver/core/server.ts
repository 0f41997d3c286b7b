import { randomUUID } from 'node:crypto';
import {
  createResponse,
  formatVia,
  parseMessage,
  parseNameAddr,
  parseUri,
  reasonPhrase,
  SipParseError,
  SipRequest,
  SipResponse,
  type AnySipMessage,
} from '../message';
import { Dialog } from '../dialog/dialog';
import { DialogTable } from '../dialog/dialog-table';
import { generateBranch } from '../transaction/branch';
import { InviteClientTransaction } from '../transaction/invite-client-transaction';
import { DEFAULT_TIMERS, systemClock, type Clock, type TimerSettings } from '../transaction/timers';
import {
  TransactionLayer,
  type ClientTransaction,
  type ServerTransaction,
} from '../transaction/transaction-layer';
import { parseListenUrl } from '../transport/listen-url';
import { TransportLayer } from '../transport/transport-layer';
import {
  isReliable,
  viaTransport,
  type Flow,
  type ListeningPoint,
  type SendTarget,
} from '../transport/types';
import { ControlListener } from '../wire/control-listener';
import type { AppSipCommand, ControlConnection } from '../wire/control-connection';
import { silentLogger, type WireLogger } from '../wire/logger';
import { metaBlock } from '../wire/meta';
import { parseSkeleton, SkeletonError } from '../wire/skeleton';
import {
  asNameAddr,
  contactUri,
  copyAppHeaders,
  ensureContentType,
  fixLocalhostHeaders,
  hostPort,
  randomCallId,
  randomTag,
  SERVER_OWNED_HEADERS,
  SERVER_OWNED_IN_NEW_REQUEST,
  transportSuffix,
  withTag,
} from './completion';
import type { AppDialog, InboundRequest, OutboundRequest, PendingAck, ReliableProvisional } from './records';
import { Retransmitter } from './retransmitter';
import { RegisteredFlows } from './registered-flows';
import { pickLocal, resolveTarget } from './targets';

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
/** Requests to a registered user that go down the connection it registered on. */
const FOLLOW_REGISTERED_FLOW = new Set([
  'INVITE',
  'OPTIONS',
  'NOTIFY',
  'MESSAGE',
  'SUBSCRIBE',
  'REFER',
  'INFO',
]);
/** drachtio-server forgets a request its app never answered after this long. */
const APP_ANSWER_TIMEOUT_MS = 64_000;
const VERSION = 'pinhole-embedded-1.0';

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
}

interface DialogCoreState {
  /** INVITE txnId an ACK reported to the app refers to. */
  inviteTxnId: string | null;
  pendingAck: PendingAck | null;
  /** Our INVITE (initial or re-INVITE) waiting for a final response. */
  outstandingInvite: OutboundRequest | null;
  /** A BYE is under way: the dialog ends with its final response. */
  terminating: boolean;
}

/**
 * The embedded drachtio-compatible SIP server: transports, transactions and dialogs below,
 * the drachtio wire protocol above. Apps connect to it exactly as to drachtio-server.
 */
export class EmbeddedSipServer {
  readonly transport: TransportLayer;
  private readonly transactions: TransactionLayer;
  private readonly control: ControlListener;
  private readonly dialogs = new DialogTable<ControlConnection>();
  private readonly dialogState = new Map<AppDialog, DialogCoreState>();
  private readonly inbound = new Map<string, InboundRequest>();
  private readonly inboundByTxn = new Map<ServerTransaction, InboundRequest>();
  private readonly outbound = new Map<string, OutboundRequest>();
  private readonly registeredFlows = new RegisteredFlows();
  private readonly logger: WireLogger;
  private readonly timers: TimerSettings;
  private readonly clock: Clock;
  private points: ListeningPoint[] = [];
  private controlPort = 0;
  private readonly counters = { badInput: 0, requestsReceived: 0, responsesReceived: 0, noAppAvailable: 0 };

  constructor(private readonly options: EmbeddedSipServerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.timers = options.timers ?? DEFAULT_TIMERS;
    this.clock = options.clock ?? systemClock;
    this.transport = new TransportLayer({
      maxMessageSize: options.maxMessageSize,
      idleTimeoutMs: options.idleTimeoutMs,
      tls: options.tls,
      logger: this.logger,
    });
    this.transactions = new TransactionLayer({
      sender: this.transport,
      timers: this.timers,
      clock: this.clock,
      logger: this.logger,
    });
    this.control = new ControlListener(
      { secret: options.control.secret, hostports: () => this.hostports(), version: VERSION },
      this.logger,
    );
    this.transport.on('message', (data: Buffer, flow: Flow) => this.onNetworkMessage(data, flow));
    this.transport.on('connection-closed', (flow: Flow) => {
      if (flow.connectionId) this.registeredFlows.forgetConnection(flow.connectionId);
    });
    this.control.on('sip', (app: ControlConnection, command: AppSipCommand) =>
      this.onAppCommand(app, command),
    );
  }

  async start(): Promise<void> {
    for (const url of this.options.listen) this.points.push(await this.transport.listen(parseListenUrl(url)));
    const address = await this.control.listen(this.options.control.host, this.options.control.port);
    this.controlPort = address.port;
    this.logger.info('drachtio control listening', { address: address.address, port: address.port });
  }

  async stop(): Promise<void> {
    for (const state of this.dialogState.values()) this.stopPendingAck(state);
    for (const entry of this.inbound.values()) this.clearInboundTimers(entry);
    this.transactions.close();
    await this.control.close();
    await this.transport.close();
  }

  get listeningPoints(): ListeningPoint[] {
    return [...this.points];
  }

  get controlAddress(): { host: string; port: number } {
    return { host: this.options.control.host, port: this.controlPort };
  }

  stats(): ServerStats {
    let pendingAcks = 0;
    for (const state of this.dialogState.values()) if (state.pendingAck) pendingAcks++;
    return {
      transactions: { ...this.transactions.counts },
      dialogs: this.dialogs.size,
      inboundRequests: this.inbound.size,
      outboundRequests: this.outbound.size,
      pendingAcks,
      apps: this.control.connectedApps,
      badInput: this.counters.badInput + this.transport.stats.badInput,
      controlProtocolErrors: this.control.protocolErrors,
      requestsReceived: this.counters.requestsReceived,
      responsesReceived: this.counters.responsesReceived,
      noAppAvailable: this.counters.noAppAvailable,
    };
  }

  private hostports(): string {
    return this.points.map((p) => `${p.protocol}/${hostPort(p, this.options.advertise)}`).join(',');
  }

  private localFor(target: SendTarget): ListeningPoint {
    const point = pickLocal(this.points, target);
    if (!point) throw new Error(`no ${target.protocol} listener to send from`);
    return point;
  }

  private ourContact(point: ListeningPoint): string {
    return `<${contactUri(point, this.options.advertise)}>`;
  }

  private newVia(point: ListeningPoint): string {
    return `SIP/2.0/${viaTransport(point.protocol)} ${hostPort(point, this.options.advertise)};branch=${generateBranch()};rport`;
  }

  // ---------------------------------------------------------------- network side

  private onNetworkMessage(data: Buffer, flow: Flow): void {
    let message: AnySipMessage;
    try {
      message = parseMessage(data, { stream: flow.protocol === 'tcp' || flow.protocol === 'tls' });
    } catch (err) {
      this.onUnparsable(err, flow);
      return;
    }
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
    this.sendStateless(response, flow);
  }

  private sendStateless(response: SipResponse, flow: Flow): void {
    this.transport
      .send(response.toBuffer(), {
        protocol: flow.protocol,
        address: flow.remoteAddress,
        port: flow.remotePort,
        connectionId: flow.connectionId,
      })
      .catch((e: Error) => this.logger.debug('stateless response not sent', { err: e.message }));
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
    const match = this.transactions.matchRequest(request, flow);
    switch (match.kind) {
      case 'retransmission':
      case 'ack-absorbed':
        return;
      case 'ack-2xx':
        this.onAckFor2xx(request, flow);
        return;
      case 'new':
        break;
    }
    const method = request.method;
    if (method === 'ACK') {
      this.onAckFor2xx(request, flow);
      return;
    }
    if (method === 'CANCEL') {
      this.onNetworkCancel(request, flow);
      return;
    }
    if (request.toTag !== null) {
      this.onInDialogRequest(request, flow);
      return;
    }
    if (!ROUTABLE_METHODS.has(method)) {
      if (DIALOG_ONLY_METHODS.has(method)) this.respondNew(request, flow, 481);
      else
        this.respondNew(request, flow, 405, {
          Allow: [...ROUTABLE_METHODS, 'ACK', 'BYE', 'CANCEL', 'UPDATE', 'PRACK', 'REFER'].join(', '),
        });
      return;
    }
    if (method === 'REGISTER') {
      const problem = registerProblem(request);
      if (problem) {
        this.respondNew(request, flow, 400, {}, `Bad Request - ${problem}`);
        return;
      }
    }
    const app = this.control.pick(method);
    if (!app) {
      this.counters.noAppAvailable++;
      this.respondNew(request, flow, 503, {}, 'Service Unavailable - no application');
      return;
    }
    const txn = this.transactions.createServerTransaction(request, flow);
    if (method === 'INVITE') txn.respond(this.trying(request));
    const entry = this.trackInbound(app, request, flow, txn, null);
    const point =
      this.points.find((p) => p.protocol === flow.protocol && p.port === flow.localPort) ?? this.points[0];
    const local = point ? `${this.options.advertise ?? flow.localAddress}|${flow.localPort}|` : '';
    this.deliverRequest(app, request, flow, entry.txnId, '', local);
  }

  private trying(request: SipRequest): SipResponse {
    return createResponse(request, 100);
  }

  private respondNew(
    request: SipRequest,
    flow: Flow,
    status: number,
    headers: Record<string, string> = {},
    reason?: string,
  ): void {
    const txn = this.transactions.createServerTransaction(request, flow);
    const response = createResponse(request, status, reason ?? reasonPhrase(status));
    if (status > 100 && request.toTag === null) this.setToTag(response, randomTag());
    for (const [name, value] of Object.entries(headers)) response.append(name, value);
    txn.respond(response);
  }

  private setToTag(response: SipResponse, tag: string): void {
    const to = response.get('to');
    if (to !== undefined) response.set('To', withTag(to, tag));
  }

  private trackInbound(
    app: ControlConnection,
    request: SipRequest,
    flow: Flow,
    txn: ServerTransaction,
    dialog: AppDialog | null,
  ): InboundRequest {
    const entry: InboundRequest = {
      txnId: randomUUID(),
      app,
      request,
      flow,
      txn,
      localTag: request.toTag,
      dialog,
      pendingUpdate: null,
      lastRseq: 0,
      reliable: null,
      appTimer: null,
    };
    this.inbound.set(entry.txnId, entry);
    this.inboundByTxn.set(txn, entry);
    entry.appTimer = this.clock.setTimeout(() => this.onAppSilent(entry), APP_ANSWER_TIMEOUT_MS);
    txn.on('terminated', () => this.forgetInbound(entry));
    txn.on('transport-error', () => this.forgetInbound(entry));
    return entry;
  }

  /** The app never answered: answer for it rather than leave the caller waiting forever. */
  private onAppSilent(entry: InboundRequest): void {
    entry.appTimer = null;
    const last = entry.txn.lastResponse;
    if (last && last.status >= 200) return;
    if (last && last.status > 100) return;
    this.logger.warn('application did not answer a request', {
      method: entry.request.method,
      callId: entry.request.callId,
    });
    const response = createResponse(entry.request, 500, 'Server Internal Error - no answer from application');
    if (entry.request.toTag === null) this.setToTag(response, entry.localTag ?? randomTag());
    entry.txn.respond(response);
    this.forgetInbound(entry);
  }

  private clearInboundTimers(entry: InboundRequest): void {
    if (entry.appTimer !== null) this.clock.clearTimeout(entry.appTimer);
    entry.appTimer = null;
    entry.reliable?.retransmitter.stop();
  }

  private forgetInbound(entry: InboundRequest): void {
    this.clearInboundTimers(entry);
    if (this.inbound.get(entry.txnId) === entry) this.inbound.delete(entry.txnId);
    this.inboundByTxn.delete(entry.txn);
  }

  private deliverRequest(
    app: ControlConnection,
    request: SipRequest,
    flow: Flow,
    txnId: string,
    dialogId: string,
    local = '',
  ): void {
    const data = request.toBuffer();
    app.notify(`sip|${metaBlock('network', data.length, flow)}|${txnId}|${dialogId}|${local}`, data);
  }

  private onNetworkCancel(cancel: SipRequest, flow: Flow): void {
    const invite = this.transactions.findInviteForCancel(cancel);
    const entry = invite ? this.inboundByTxn.get(invite) : undefined;
    if (!invite || !entry) {
      this.respondNew(cancel, flow, 481);
      return;
    }
    const cancelTxn = this.transactions.createServerTransaction(cancel, flow);
    const ok = createResponse(cancel, 200);
    this.setToTag(ok, entry.localTag ?? randomTag());
    cancelTxn.respond(ok);
    const last = invite.lastResponse;
    if (last && last.status >= 200) return;
    const terminated = createResponse(entry.request, 487);
    entry.localTag ??= randomTag();
    this.setToTag(terminated, entry.localTag);
    invite.respond(terminated);
    if (entry.dialog && entry.dialog.state === 'early') this.removeDialog(entry.dialog);
    this.clearInboundTimers(entry);
    this.deliverRequest(entry.app, cancel, flow, entry.txnId, '');
  }

  private onInDialogRequest(request: SipRequest, flow: Flow): void {
    const dialog = this.dialogs.findForRequest(request.callId, request.fromTag, request.toTag);
    if (!dialog || dialog.state === 'terminated') {
      this.respondNew(request, flow, 481);
      return;
    }
    const method = request.method;
    const state = this.coreState(dialog);
    if (!dialog.acceptRemoteSeq(request.cseq.seq)) {
      this.respondNew(request, flow, 500, {}, 'Server Internal Error - CSeq out of order');
      return;
    }
    if (method === 'INVITE' && state.outstandingInvite) {
      this.respondNew(request, flow, 491);
      return;
    }
    const txn = this.transactions.createServerTransaction(request, flow);
    if (method === 'INVITE') txn.respond(this.trying(request));
    if (method === 'INVITE' || method === 'UPDATE') this.refreshTarget(dialog, request);
    if (isReliable(flow.protocol)) dialog.flow = flow;

    if (method === 'PRACK') this.onPrack(dialog, request);
    if (method === 'BYE') {
      state.terminating = true;
      this.stopPendingAck(state);
    }
    if (method === 'UPDATE' && dialog.role === 'uas' && dialog.state === 'early') {
      const invite = this.findInboundInvite(dialog);
      if (invite) {
        invite.pendingUpdate = txn;
        this.deliverRequest(dialog.owner, request, flow, invite.txnId, dialog.id);
        return;
      }
    }
    const entry = this.trackInbound(dialog.owner, request, flow, txn, dialog);
    this.deliverRequest(dialog.owner, request, flow, entry.txnId, dialog.id);
  }

  private findInboundInvite(dialog: AppDialog): InboundRequest | undefined {
    for (const entry of this.inbound.values())
      if (entry.dialog === dialog && entry.request.method === 'INVITE') return entry;
    return undefined;
  }

  private onPrack(dialog: AppDialog, prack: SipRequest): void {
    const rack = /^\s*(\d+)\s+(\d+)\s+(\w+)/.exec(prack.get('rack') ?? '');
    if (!rack) return;
    const invite = this.findInboundInvite(dialog);
    if (invite?.reliable && invite.reliable.rseq === Number(rack[1])) {
      invite.reliable.retransmitter.stop();
      invite.reliable = null;
    }
  }

  private refreshTarget(dialog: AppDialog, message: AnySipMessage): void {
    const contact = message.getAll('contact')[0];
    if (!contact) return;
    try {
      dialog.remoteTarget = parseNameAddr(contact).uriText;
    } catch {
      this.logger.debug('unparsable Contact in target refresh', { callId: dialog.callId });
    }
  }

  private onAckFor2xx(ack: SipRequest, flow: Flow): void {
    const dialog = this.dialogs.findForRequest(ack.callId, ack.fromTag, ack.toTag);
    if (!dialog) return;
    const state = this.coreState(dialog);
    const pending = state.pendingAck;
    if (pending && pending.cseq === ack.cseq.seq) {
      this.stopPendingAck(state);
      dialog.confirm();
      this.deliverRequest(dialog.owner, ack, flow, pending.inviteTxnId, dialog.id);
      return;
    }
    if (ack.body.length > 0 || state.inviteTxnId) {
      this.deliverRequest(dialog.owner, ack, flow, state.inviteTxnId ?? randomUUID(), dialog.id);
      state.inviteTxnId = null;
    }
  }

  private onNetworkResponse(response: SipResponse, flow: Flow): void {
    this.counters.responsesReceived++;
    if (this.transactions.matchResponse(response, flow)) return;
    // A 2xx retransmitted after our INVITE transaction ended: the dialog re-sends its ACK.
    if (response.status >= 200 && response.status < 300 && response.cseq.method === 'INVITE') {
      const dialog = this.dialogs.findForRequest(response.callId, response.toTag, response.fromTag);
      if (dialog?.lastAck && dialog.ackCseq === response.cseq.seq) this.sendAckBuffer(dialog, dialog.lastAck);
    }
  }

  // ---------------------------------------------------------------- UAS responses from apps

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
      if (message instanceof SipResponse) this.respondFromApp(app, command, message);
      else if (command.dialogId) this.sendInDialog(app, command, message as SipRequest);
      else if (command.txnId) this.cancelFromApp(app, command, message as SipRequest);
      else await this.sendNewRequest(app, command, message as SipRequest);
    };
    run().catch((err: Error) => {
      this.logger.warn('app request failed', { app: app.id, err: err.message });
      app.reply(command.msgId, `NOK|${err.message.replace(/[|\r\n]/g, ' ')}`);
    });
  }

  private echo(
    app: ControlConnection,
    msgId: string,
    data: Buffer,
    target: SendTarget,
    txnId: string,
    dialogId: string,
  ): void {
    const flow: Flow = {
      protocol: target.protocol,
      localAddress: '',
      localPort: 0,
      remoteAddress: target.address,
      remotePort: target.port,
    };
    app.reply(msgId, `OK|${metaBlock('application', data.length, flow)}|${txnId}|${dialogId}`, data);
  }

  private respondFromApp(app: ControlConnection, command: AppSipCommand, skeleton: SipResponse): void {
    const entry = this.inbound.get(command.txnId);
    if (!entry) {
      app.reply(command.msgId, 'NOK|Response not sent due to unknown transaction');
      return;
    }
    let txn = entry.txn;
    let request = entry.request;
    if (skeleton.cseq.method === 'UPDATE' && entry.pendingUpdate && request.method === 'INVITE') {
      txn = entry.pendingUpdate;
      request = txn.request;
    }
    const last = txn.lastResponse;
    if (
      last &&
      last.status >= 200 &&
      !(last.status < 300 && skeleton.status < 300 && request.method === 'INVITE')
    ) {
      app.reply(command.msgId, 'NOK|Response not sent due to unknown transaction');
      return;
    }
    const status = skeleton.status;
    const response = createResponse(request, status, skeleton.reason || reasonPhrase(status));
    const dialogForming = request.method === 'INVITE' || request.method === 'SUBSCRIBE';
    if (status > 100 && request.toTag === null) {
      const appTag = safeTag(skeleton.get('to'));
      entry.localTag ??= appTag ?? randomTag();
      if (txn === entry.txn) this.setToTag(response, entry.localTag);
      else this.setToTag(response, entry.localTag);
    }
    copyAppHeaders(skeleton.headers, response, SERVER_OWNED_HEADERS);
    const target = {
      protocol: entry.flow.protocol,
      address: entry.flow.remoteAddress,
      port: entry.flow.remotePort,
      connectionId: entry.flow.connectionId,
    };
    const point = this.localFor(target);
    const hp = hostPort(point, this.options.advertise);
    fixLocalhostHeaders(response, hp, transportSuffix(point));
    if (dialogForming && status > 100 && status < 300) {
      if (!response.has('contact')) response.append('Contact', this.ourContact(point));
      for (const rr of request.getAll('record-route')) response.append('Record-Route', rr);
    }
    const reliable =
      request.method === 'INVITE' &&
      status > 100 &&
      status < 200 &&
      /\b100rel\b/i.test(skeleton.get('require') ?? '');
    if (reliable) {
      entry.lastRseq += 1;
      response.append('RSeq', String(entry.lastRseq));
    }
    response.body = skeleton.body;
    const contentProblem = ensureContentType(response);
    if (contentProblem) {
      app.reply(command.msgId, `NOK|${contentProblem}`);
      return;
    }

    let dialog = entry.dialog;
    if (
      request.method === 'INVITE' &&
      status > 100 &&
      status < 300 &&
      request.toTag === null &&
      txn === entry.txn
    ) {
      dialog ??= this.createUasDialog(entry, response, point);
      entry.dialog = dialog;
    }
    if (status >= 200 && entry.appTimer !== null) {
      this.clock.clearTimeout(entry.appTimer);
      entry.appTimer = null;
    }
    txn.respond(response);
    const data = response.toBuffer();
    if (reliable) this.startReliableProvisional(entry, data);
    if (request.method === 'INVITE' && txn === entry.txn)
      this.afterInviteResponse(entry, dialog, status, data);
    if (request.method === 'BYE' && status >= 200 && entry.dialog) this.removeDialog(entry.dialog);
    if (request.method === 'REGISTER' && status >= 200 && status < 300)
      this.rememberRegisteredFlow(request, response, entry.flow);
    this.echo(
      app,
      command.msgId,
      data,
      target,
      command.txnId,
      dialog && (dialogForming || entry.dialog) ? dialog.id : '',
    );
    if (status >= 200 && txn === entry.txn && !(request.method === 'INVITE' && status < 300))
      this.forgetInbound(entry);
  }

  private createUasDialog(entry: InboundRequest, response: SipResponse, point: ListeningPoint): AppDialog {
    const request = entry.request;
    const routeSet = request.getAll('record-route');
    const contact = request.getAll('contact')[0];
    const remoteTarget = contact ? parseNameAddr(contact).uriText : request.from.uriText;
    const dialog = new Dialog<ControlConnection>(
      'uas',
      request.callId,
      entry.localTag ?? randomTag(),
      request.fromTag ?? '',
      {
        localParty: response.get('to') ?? '',
        remoteParty: request.get('from') ?? '',
        localSeq: Math.floor(Math.random() * 10000) + 1,
        remoteSeq: request.cseq.seq,
        remoteTarget,
        routeSet,
        localContact: response.get('contact') ?? this.ourContact(point),
        flow: entry.flow,
        state: 'early',
      },
      entry.app,
    );
    this.dialogs.add(dialog);
    this.coreState(dialog).inviteTxnId = entry.txnId;
    return dialog;
  }

  private afterInviteResponse(
    entry: InboundRequest,
    dialog: AppDialog | null,
    status: number,
    data: Buffer,
  ): void {
    if (status >= 300 && dialog) {
      if (dialog.state === 'early') this.removeDialog(dialog);
      return;
    }
    if (status < 200 || status >= 300) return;
    const target = dialog ?? entry.dialog;
    if (!target) return;
    entry.reliable?.retransmitter.stop();
    entry.reliable = null;
    const state = this.coreState(target);
    state.inviteTxnId = entry.txnId;
    this.stopPendingAck(state);
    const flowTarget = this.responseTarget(entry.flow);
    const pending: PendingAck = {
      inviteTxnId: entry.txnId,
      cseq: entry.request.cseq.seq,
      retransmitter: new Retransmitter(this.clock, this.timers, {
        unreliable: !isReliable(entry.flow.protocol),
        capAtT2: true,
        resend: () => this.transport.send(data, flowTarget).catch(() => undefined),
        giveUp: () => {
          if (state.pendingAck !== pending) return;
          state.pendingAck = null;
          this.onAckTimeout(target);
        },
      }),
    };
    state.pendingAck = pending;
    this.forgetInbound(entry);
  }

  private startReliableProvisional(entry: InboundRequest, data: Buffer): void {
    entry.reliable?.retransmitter.stop();
    const target = this.responseTarget(entry.flow);
    const reliable: ReliableProvisional = {
      rseq: entry.lastRseq,
      retransmitter: new Retransmitter(this.clock, this.timers, {
        unreliable: !isReliable(entry.flow.protocol),
        capAtT2: false,
        resend: () => this.transport.send(data, target).catch(() => undefined),
        giveUp: () => {
          if (entry.reliable === reliable) entry.reliable = null;
        },
      }),
    };
    entry.reliable = reliable;
  }

  private responseTarget(flow: Flow): SendTarget {
    return {
      protocol: flow.protocol,
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    };
  }

  /** RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the session with a BYE; the app is told. */
  private onAckTimeout(dialog: AppDialog): void {
    this.logger.warn('no ACK for 2xx: ending the dialog', { callId: dialog.callId });
    const bye = this.buildInDialogRequest(dialog, 'BYE', []);
    bye.append('Reason', 'SIP;cause=200;text="ACK timeout"');
    const target = this.dialogTarget(dialog);
    bye.prepend('Via', this.newVia(this.localFor(target)));
    this.coreState(dialog).terminating = true;
    const txn = this.transactions.createClientTransaction(bye, target);
    const end = () => this.removeDialog(dialog);
    txn.on('response', (res: SipResponse) => {
      if (res.status >= 200) end();
    });
    txn.on('timeout', end);
    txn.on('transport-error', end);
    const data = bye.toBuffer();
    dialog.owner.notify(
      `sip|${metaBlock('application', data.length, this.flowOf(target))}|unsolicited|${dialog.id}|`,
      data,
    );
  }

  private flowOf(target: SendTarget): Flow {
    return {
      protocol: target.protocol,
      localAddress: '',
      localPort: 0,
      remoteAddress: target.address,
      remotePort: target.port,
      connectionId: target.connectionId,
    };
  }

  private rememberRegisteredFlow(request: SipRequest, response: SipResponse, flow: Flow): void {
    if (!isReliable(flow.protocol) || !flow.connectionId) return;
    const defaultExpires = Number(response.get('expires') ?? request.get('expires') ?? 3600);
    for (const contact of request.getAll('contact')) {
      if (contact === '*') continue;
      try {
        const addr = parseNameAddr(contact);
        const expires = Number(addr.params.get('expires') ?? defaultExpires);
        if (!addr.uri.user) continue;
        this.registeredFlows.remember(
          `${addr.uri.user}@${addr.uri.host}`,
          flow,
          Number.isFinite(expires) ? expires : 0,
        );
      } catch {
        this.logger.debug('unparsable Contact in REGISTER', { contact });
      }
    }
  }

  // ---------------------------------------------------------------- requests from apps

  private async sendNewRequest(
    app: ControlConnection,
    command: AppSipCommand,
    skeleton: SipRequest,
  ): Promise<void> {
    if (skeleton.method === 'ACK') {
      app.reply(command.msgId, 'NOK|ACK for non-success final response is automatically generated by server');
      return;
    }
    const callId = skeleton.get('call-id');
    const existing = callId ? this.dialogs.findByCallId(callId) : undefined;
    if (existing && skeleton.method !== 'INVITE') {
      this.sendInDialog(app, { ...command, dialogId: existing.id }, skeleton);
      return;
    }
    const request = new SipRequest(skeleton.method, skeleton.uri);
    let target: SendTarget;
    const registered = this.registeredTarget(skeleton);
    if (registered) target = registered;
    else {
      const firstRoute = skeleton.getAll('route')[0];
      const hop = command.routeUrl || (firstRoute ? parseNameAddr(firstRoute).uriText : skeleton.uri);
      target = await resolveTarget(hop);
    }
    const point = this.localFor(target);
    const hp = hostPort(point, this.options.advertise);
    const contact = skeleton.get('contact');
    request.append('Via', this.newVia(point));
    request.append('Max-Forwards', skeleton.get('max-forwards') ?? '70');
    const fromValue =
      skeleton.get('from') ?? (contact ? contact : `<${contactUri(point, this.options.advertise)}>`);
    request.append('From', withTag(asNameAddr(fromValue), randomTag()));
    request.append('To', skeleton.get('to') ?? `<${skeleton.uri}>`);
    request.append('Call-ID', callId ?? randomCallId());
    const cseq = skeleton.get('cseq');
    request.append(
      'CSeq',
      cseq && /^\d+/.test(cseq) ? `${parseInt(cseq, 10)} ${skeleton.method}` : `1 ${skeleton.method}`,
    );
    copyAppHeaders(
      skeleton.headers,
      request,
      new Set([...SERVER_OWNED_IN_NEW_REQUEST, 'from', 'to', 'call-id', 'cseq', 'max-forwards']),
    );
    if (
      !request.has('contact') &&
      (skeleton.method === 'INVITE' || skeleton.method === 'SUBSCRIBE' || skeleton.method === 'REFER')
    )
      request.append('Contact', this.ourContact(point));
    fixLocalhostHeaders(request, hp, transportSuffix(point));
    request.body = skeleton.body;
    const problem = ensureContentType(request);
    if (problem) {
      app.reply(command.msgId, `NOK|${problem}`);
      return;
    }
    this.startClientRequest(app, command.msgId, request, target, null);
  }

  private registeredTarget(skeleton: SipRequest): SendTarget | null {
    if (!FOLLOW_REGISTERED_FLOW.has(skeleton.method) || this.registeredFlows.size === 0) return null;
    try {
      const uri = parseUri(skeleton.uri);
      if (!uri.user) return null;
      const flow = this.registeredFlows.lookup(`${uri.user}@${uri.host}`);
      if (!flow?.connectionId || !this.transport.hasConnection(flow.connectionId)) return null;
      return this.responseTarget(flow);
    } catch {
      return null;
    }
  }

  private startClientRequest(
    app: ControlConnection,
    msgId: string,
    request: SipRequest,
    target: SendTarget,
    dialog: AppDialog | null,
  ): OutboundRequest {
    const txnId = randomUUID();
    const data = request.toBuffer();
    this.echo(app, msgId, data, target, txnId, dialog ? dialog.id : '');
    const txn = this.transactions.createClientTransaction(request, target);
    const entry: OutboundRequest = {
      txnId,
      app,
      request,
      txn,
      dialog,
      deferredCancel: null,
      final: false,
      firstFinalTag: null,
      seenRseqs: new Set(),
    };
    this.outbound.set(txnId, entry);
    if (request.method === 'INVITE' && dialog) this.coreState(dialog).outstandingInvite = entry;
    txn.on('response', (response: SipResponse, flow: Flow) => this.onClientResponse(entry, response, flow));
    txn.on('timeout', () => this.onClientFailure(entry, 408, 'Request Timeout'));
    txn.on('transport-error', (err: Error) => {
      this.logger.warn('request not delivered', { method: request.method, err: err.message });
      this.onClientFailure(entry, 503, 'Service Unavailable - transport error');
    });
    txn.on('terminated', () => {
      if (this.outbound.get(txnId) === entry) this.outbound.delete(txnId);
    });
    return entry;
  }

  /** A locally generated final response (timeout, unreachable) is reported as if it came from the network. */
  private onClientFailure(entry: OutboundRequest, status: number, reason: string): void {
    if (entry.final) return;
    const response = createResponse(entry.request, status, reason);
    const flow = this.flowOf(entry.txn.target);
    this.onClientResponse(entry, response, flow);
    this.outbound.delete(entry.txnId);
  }

  private onClientResponse(entry: OutboundRequest, response: SipResponse, flow: Flow): void {
    const method = entry.request.method;
    const status = response.status;
    let dialogId = entry.dialog ? entry.dialog.id : '';
    if (method === 'INVITE') {
      if (entry.final && status >= 200) {
        this.onRepeated2xx(entry, response, flow);
        return;
      }
      const rseq = Number(response.get('rseq'));
      if (
        status > 100 &&
        status < 200 &&
        response.has('rseq') &&
        /\b100rel\b/i.test(response.get('require') ?? '')
      ) {
        if (entry.seenRseqs.has(rseq)) return;
        entry.seenRseqs.add(rseq);
      }
      const dialog = this.uacDialogFor(entry, response, flow);
      dialogId = dialog ? dialog.id : '';
      if (status > 100 && status < 200 && entry.deferredCancel) {
        const cancel = entry.deferredCancel;
        entry.deferredCancel = null;
        this.sendCancel(cancel, entry);
      }
      if (status >= 200) {
        entry.final = true;
        entry.firstFinalTag = response.toTag;
        if (dialog) {
          const state = this.coreState(dialog);
          if (state.outstandingInvite === entry) state.outstandingInvite = null;
        }
        if (status >= 300) dialogId = '';
      }
    } else if (status >= 200) {
      entry.final = true;
      if (entry.dialog && method === 'BYE' && status !== 401 && status !== 407)
        this.removeDialog(entry.dialog);
      this.outbound.delete(entry.txnId);
    }
    const data = response.toBuffer();
    entry.app.notify(`sip|${metaBlock('network', data.length, flow)}|${entry.txnId}|${dialogId}|`, data);
  }

  /** Creates or updates our UAC dialog from an INVITE response (RFC 3261 §12.1.2, §13.2.2.4). */
  private uacDialogFor(entry: OutboundRequest, response: SipResponse, flow: Flow): AppDialog | null {
    const status = response.status;
    const toTag = response.toTag;
    let dialog = entry.dialog;
    const isReinvite = dialog !== null && dialog.state !== 'early' && entry.request.toTag !== null;
    if (isReinvite && dialog) {
      if (status >= 200 && status < 300) {
        this.refreshTarget(dialog, response);
        dialog.ackCseq = entry.request.cseq.seq;
        dialog.lastAck = null;
      }
      return dialog;
    }
    if (status >= 300) {
      if (dialog) this.removeDialog(dialog);
      entry.dialog = null;
      return null;
    }
    if (status === 100 || (!toTag && !dialog)) return dialog;
    const contact = response.getAll('contact')[0];
    const routeSet = response.getAll('record-route').reverse();
    if (!dialog) {
      const request = entry.request;
      dialog = new Dialog<ControlConnection>(
        'uac',
        request.callId,
        request.fromTag ?? '',
        toTag ?? '',
        {
          localParty: request.get('from') ?? '',
          remoteParty: response.get('to') ?? '',
          localSeq: request.cseq.seq,
          remoteSeq: null,
          remoteTarget: contact ? parseNameAddr(contact).uriText : request.uri,
          routeSet,
          localContact: request.get('contact') ?? '',
          flow,
          state: 'early',
        },
        entry.app,
      );
      this.dialogs.add(dialog);
      entry.dialog = dialog;
      this.coreState(dialog).outstandingInvite = entry;
    } else {
      // A peer that drops the tag from its 2xx still answers the early dialog it opened.
      if (toTag) {
        dialog.remoteTag = toTag;
        dialog.remoteParty = response.get('to') ?? dialog.remoteParty;
      }
      if (contact) dialog.remoteTarget = parseNameAddr(contact).uriText;
      dialog.routeSet = routeSet;
      dialog.flow = flow;
    }
    if (status >= 200) {
      dialog.confirm();
      dialog.ackCseq = entry.request.cseq.seq;
      dialog.lastAck = null;
    }
    return dialog;
  }

  /** A 2xx after the first final: a retransmission (re-send our ACK) or another fork (ACK and BYE it). */
  private onRepeated2xx(entry: OutboundRequest, response: SipResponse, flow: Flow): void {
    if (response.status >= 300) return;
    const dialog = entry.dialog;
    if (dialog && response.toTag === dialog.remoteTag) {
      if (dialog.lastAck) this.sendAckBuffer(dialog, dialog.lastAck);
      return;
    }
    this.logger.info('extra 2xx from another fork: ending it', { callId: response.callId });
    const target = this.responseTarget(flow);
    const point = this.localFor(target);
    const contact = response.getAll('contact')[0];
    const uri = contact ? parseNameAddr(contact).uriText : entry.request.uri;
    const make = (method: string, seq: number) => {
      const req = new SipRequest(method, uri);
      req.append('Via', this.newVia(point));
      req.append('Max-Forwards', '70');
      req.append('From', entry.request.get('from') ?? '');
      req.append('To', response.get('to') ?? '');
      req.append('Call-ID', entry.request.callId);
      req.append('CSeq', `${seq} ${method}`);
      return req;
    };
    this.transport.send(make('ACK', entry.request.cseq.seq).toBuffer(), target).catch(() => undefined);
    this.transactions.createClientTransaction(make('BYE', entry.request.cseq.seq + 1), target);
  }

  private cancelFromApp(app: ControlConnection, command: AppSipCommand, skeleton: SipRequest): void {
    const entry = this.outbound.get(command.txnId);
    if (skeleton.method !== 'CANCEL' || !entry || entry.request.method !== 'INVITE') {
      app.reply(command.msgId, `NOK|unknown transaction for ${skeleton.method}`);
      return;
    }
    if (entry.final) {
      app.reply(command.msgId, 'NOK|transaction already completed');
      return;
    }
    const cancel = buildCancel(entry.request, skeleton.headers);
    this.echo(app, command.msgId, cancel.toBuffer(), entry.txn.target, command.txnId, '');
    if (isCancelable(entry.txn)) this.sendCancel(cancel, entry);
    else entry.deferredCancel = cancel;
  }

  private sendCancel(cancel: SipRequest, entry: OutboundRequest): void {
    if (entry.final) return;
    this.transactions.createClientTransaction(cancel, entry.txn.target);
  }

  private sendInDialog(app: ControlConnection, command: AppSipCommand, skeleton: SipRequest): void {
    const dialog = this.dialogs.get(command.dialogId);
    if (!dialog || dialog.state === 'terminated') {
      if (skeleton.method === 'ACK')
        app.reply(
          command.msgId,
          'NOK|ACK for non-success final response is automatically generated by server',
        );
      else app.reply(command.msgId, 'NOK|Server error: unable to find dialog for dialog id provided');
      return;
    }
    const method = skeleton.method;
    if (method === 'ACK') {
      this.sendAckFromApp(app, command, dialog, skeleton);
      return;
    }
    const state = this.coreState(dialog);
    if (method === 'BYE') {
      state.terminating = true;
      this.stopPendingAck(state);
      const outstanding = state.outstandingInvite;
      if (outstanding && !outstanding.final && isCancelable(outstanding.txn))
        this.sendCancel(buildCancel(outstanding.request, []), outstanding);
    }
    const request = this.buildInDialogRequest(dialog, method, skeleton.headers);
    const target = this.dialogTarget(dialog);
    const point = this.localFor(target);
    request.prepend('Via', this.newVia(point));
    if (
      (method === 'INVITE' ||
        method === 'UPDATE' ||
        method === 'SUBSCRIBE' ||
        method === 'NOTIFY' ||
        method === 'REFER') &&
      !request.has('contact')
    )
      request.append('Contact', dialog.localContact || this.ourContact(point));
    fixLocalhostHeaders(request, hostPort(point, this.options.advertise), transportSuffix(point));
    request.body = skeleton.body;
    const problem = ensureContentType(request);
    if (problem) {
      app.reply(command.msgId, `NOK|${problem}`);
      return;
    }
    if (method === 'INVITE') {
      dialog.lastAck = null;
      dialog.ackCseq = null;
    }
    this.startClientRequest(app, command.msgId, request, target, dialog);
  }

  private buildInDialogRequest(
    dialog: AppDialog,
    method: string,
    appHeaders: SipRequest['headers'],
  ): SipRequest {
    const request = new SipRequest(method, dialog.remoteTarget);
    request.append('Max-Forwards', '70');
    request.append('From', dialog.localParty);
    request.append('To', dialog.remoteParty);
    request.append('Call-ID', dialog.callId);
    const seq = method === 'ACK' ? (dialog.ackCseq ?? dialog.localSeq) : dialog.nextLocalSeq();
    request.append('CSeq', `${seq} ${method}`);
    for (const route of dialog.routeSet) request.append('Route', route);
    copyAppHeaders(appHeaders, request, new Set([...SERVER_OWNED_HEADERS, 'max-forwards']));
    return request;
  }

  /** In-dialog requests follow the route set, else the flow the peer used when it is behind NAT. */
  private dialogTarget(dialog: AppDialog): SendTarget {
    const flow = dialog.flow;
    if (dialog.routeSet.length === 0) {
      if (isReliable(flow.protocol) && flow.connectionId && this.transport.hasConnection(flow.connectionId))
        return this.responseTarget(flow);
      return {
        protocol: flow.protocol,
        address: flow.remoteAddress,
        port: flow.remotePort,
        connectionId: flow.connectionId,
      };
    }
    const first = parseNameAddr(dialog.routeSet[0]);
    const viaFlow =
      flow.connectionId && this.transport.hasConnection(flow.connectionId) ? flow.connectionId : undefined;
    return {
      protocol: flow.protocol,
      address: first.uri.host,
      port: first.uri.port ?? 5060,
      connectionId: viaFlow,
    };
  }

  private sendAckFromApp(
    app: ControlConnection,
    command: AppSipCommand,
    dialog: AppDialog,
    skeleton: SipRequest,
  ): void {
    if (dialog.ackCseq === null) {
      app.reply(command.msgId, 'NOK|ACK for non-success final response is automatically generated by server');
      return;
    }
    const ack = this.buildInDialogRequest(dialog, 'ACK', skeleton.headers);
    const target = this.dialogTarget(dialog);
    ack.prepend('Via', this.newVia(this.localFor(target)));
    ack.body = skeleton.body;
    ensureContentType(ack);
    const data = ack.toBuffer();
    dialog.lastAck = data;
    this.sendAckBuffer(dialog, data);
    this.echo(app, command.msgId, data, target, command.txnId, dialog.id);
  }

  private sendAckBuffer(dialog: AppDialog, data: Buffer): void {
    this.transport
      .send(data, this.dialogTarget(dialog))
      .catch((e: Error) => this.logger.debug('ACK not sent', { err: e.message }));
  }

  // ---------------------------------------------------------------- dialog bookkeeping

  private coreState(dialog: AppDialog): DialogCoreState {
    let state = this.dialogState.get(dialog);
    if (!state) {
      state = { inviteTxnId: null, pendingAck: null, outstandingInvite: null, terminating: false };
      this.dialogState.set(dialog, state);
    }
    return state;
  }

  private stopPendingAck(state: DialogCoreState): void {
    state.pendingAck?.retransmitter.stop();
    state.pendingAck = null;
  }

  private removeDialog(dialog: AppDialog): void {
    dialog.terminate();
    const state = this.dialogState.get(dialog);
    if (state) this.stopPendingAck(state);
    this.dialogState.delete(dialog);
    this.dialogs.remove(dialog);
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

/** RFC 3261 §9.1: the CANCEL copies the INVITE's Request-URI, top Via, From, To, Call-ID and Route. */
function buildCancel(invite: SipRequest, appHeaders: SipRequest['headers']): SipRequest {
  const cancel = new SipRequest('CANCEL', invite.uri);
  cancel.append('Via', invite.getAll('via')[0]);
  cancel.append('Max-Forwards', '70');
  for (const name of ['from', 'to', 'call-id']) cancel.append(name, invite.get(name) ?? '');
  cancel.append('CSeq', `${invite.cseq.seq} CANCEL`);
  for (const route of invite.getAll('route')) cancel.append('Route', route);
  for (const h of appHeaders) if (h.key === 'reason' || h.key === 'x-reason') cancel.headers.push({ ...h });
  return cancel;
}

function isCancelable(txn: ClientTransaction): boolean {
  return txn instanceof InviteClientTransaction && txn.cancelable;
}

function safeTag(to: string | undefined): string | null {
  if (!to) return null;
  try {
    return parseNameAddr(to).params.get('tag') ?? null;
  } catch {
    return null;
  }
}
