import { randomUUID } from 'node:crypto';
import { createResponse, parseNameAddr, reasonPhrase, SipRequest, SipResponse } from '../message';
import { Dialog } from '../dialog/dialog';
import { type ServerTransaction } from '../transaction/transaction-layer';
import { isReliable, type Flow, type ListeningPoint } from '../transport/types';
import type { AppSipCommand, ControlConnection } from '../wire/control-connection';
import { metaBlock } from '../wire/meta';
import {
  copyAppHeaders,
  ensureContentType,
  fixLocalhostHeaders,
  hostPort,
  randomTag,
  SERVER_OWNED_HEADERS,
  transportSuffix,
} from './completion';
import type { AppDialog, InboundRequest, PendingAck, ReliableProvisional } from './records';
import { Retransmitter } from './retransmitter';
import type { CoreContext } from './context';

/** drachtio-server forgets a request its app never answered after this long. */
const APP_ANSWER_TIMEOUT_MS = 64_000;

/**
 * The UAS half: requests from the network handed to apps, and the apps' responses made whole,
 * sent, retransmitted (2xx until ACK, reliable 1xx until PRACK) and echoed back.
 */
export class UasCore {
  constructor(private readonly ctx: CoreContext) {}

  /** A new out-of-dialog request for `app`: 100 Trying for an INVITE, then the app gets it. */
  acceptNew(app: ControlConnection, request: SipRequest, flow: Flow): void {
    const txn = this.ctx.transactions.createServerTransaction(request, flow);
    if (request.method === 'INVITE') txn.respond(this.ctx.trying(request));
    const entry = this.trackInbound(app, request, flow, txn, null);
    const local = `${this.ctx.options.advertise ?? flow.localAddress}|${flow.localPort}|`;
    this.ctx.deliverRequest(app, request, flow, entry.txnId, '', local);
  }

  trackInbound(
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
      heldFinal: null,
      prackUnanswered: false,
      appTimer: null,
    };
    this.ctx.inbound.set(entry.txnId, entry);
    if (dialog && request.method === 'INVITE') this.ctx.coreState(dialog).inboundInvite = entry;
    this.ctx.inboundByTxn.set(txn, entry);
    entry.appTimer = this.ctx.clock.setTimeout(() => this.onAppSilent(entry), APP_ANSWER_TIMEOUT_MS);
    txn.on('terminated', () => this.forgetInbound(entry));
    txn.on('transport-error', () => this.forgetInbound(entry));
    return entry;
  }

  /** The app never answered: answer for it rather than leave the caller waiting forever. */
  private onAppSilent(entry: InboundRequest): void {
    entry.appTimer = null;
    const last = entry.txn.lastResponse;
    // A final answer, or a ringing call the caller may still cancel, is left to run its course.
    if (last && last.status > 100) return;
    this.ctx.logger.warn('application did not answer a request', {
      method: entry.request.method,
      callId: entry.request.callId,
    });
    const response = createResponse(entry.request, 500, 'Server Internal Error - no answer from application');
    if (entry.request.toTag === null) this.ctx.setToTag(response, entry.localTag ?? randomTag());
    entry.txn.respond(response);
    this.forgetInbound(entry);
  }

  clearInboundTimers(entry: InboundRequest): void {
    if (entry.appTimer !== null) this.ctx.clock.clearTimeout(entry.appTimer);
    entry.appTimer = null;
    entry.reliable?.retransmitter.stop();
  }

  private forgetInbound(entry: InboundRequest): void {
    this.clearInboundTimers(entry);
    if (this.ctx.inbound.get(entry.txnId) === entry) this.ctx.inbound.delete(entry.txnId);
    this.ctx.inboundByTxn.delete(entry.txn);
    const state = entry.dialog ? this.ctx.dialogState.get(entry.dialog) : undefined;
    if (state?.inboundInvite === entry) state.inboundInvite = null;
  }

  onNetworkCancel(cancel: SipRequest, flow: Flow): void {
    const invite = this.ctx.transactions.findInviteForCancel(cancel);
    const entry = invite ? this.ctx.inboundByTxn.get(invite) : undefined;
    if (!invite || !entry) {
      this.ctx.respondNew(cancel, flow, 481);
      return;
    }
    const cancelTxn = this.ctx.transactions.createServerTransaction(cancel, flow);
    const ok = createResponse(cancel, 200);
    this.ctx.setToTag(ok, entry.localTag ?? randomTag());
    cancelTxn.respond(ok);
    const last = invite.lastResponse;
    if (last && last.status >= 200) return;
    const terminated = createResponse(entry.request, 487);
    entry.localTag ??= randomTag();
    this.ctx.setToTag(terminated, entry.localTag);
    invite.respond(terminated);
    if (entry.dialog && entry.dialog.state === 'early') this.ctx.removeDialog(entry.dialog);
    this.clearInboundTimers(entry);
    this.ctx.deliverRequest(entry.app, cancel, flow, entry.txnId, '');
  }

  onInDialogRequest(request: SipRequest, flow: Flow): void {
    const dialog = this.ctx.dialogs.findForRequest(request.callId, request.fromTag, request.toTag);
    if (!dialog || dialog.state === 'terminated') {
      this.ctx.respondNew(request, flow, 481);
      return;
    }
    const method = request.method;
    const state = this.ctx.coreState(dialog);
    if (!dialog.acceptRemoteSeq(request.cseq.seq)) {
      this.ctx.respondNew(request, flow, 500, {}, 'Server Internal Error - CSeq out of order');
      return;
    }
    if (method === 'INVITE' && state.outstandingInvite) {
      this.ctx.respondNew(request, flow, 491);
      return;
    }
    const txn = this.ctx.transactions.createServerTransaction(request, flow);
    if (method === 'INVITE') txn.respond(this.ctx.trying(request));
    if (method === 'INVITE' || method === 'UPDATE') this.ctx.refreshTarget(dialog, request);
    if (isReliable(flow.protocol)) dialog.flow = flow;

    if (method === 'PRACK') this.onPrack(dialog, request);
    if (method === 'BYE') this.ctx.stopPendingAck(state);
    if (method === 'UPDATE' && dialog.role === 'uas' && dialog.state === 'early') {
      const invite = this.findInboundInvite(dialog);
      if (invite) {
        invite.pendingUpdate = txn;
        this.ctx.deliverRequest(dialog.owner, request, flow, invite.txnId, dialog.id);
        return;
      }
    }
    const entry = this.trackInbound(dialog.owner, request, flow, txn, dialog);
    this.ctx.deliverRequest(dialog.owner, request, flow, entry.txnId, dialog.id);
  }

  private findInboundInvite(dialog: AppDialog): InboundRequest | null {
    return this.ctx.dialogState.get(dialog)?.inboundInvite ?? null;
  }

  private onPrack(dialog: AppDialog, prack: SipRequest): void {
    const rack = /^\s*(\d+)\s+(\d+)\s+(\w+)/.exec(prack.get('rack') ?? '');
    if (!rack) return;
    const invite = this.findInboundInvite(dialog);
    if (invite?.reliable && invite.reliable.rseq === Number(rack[1])) {
      invite.reliable.retransmitter.stop();
      invite.prackUnanswered = invite.reliable.carriesSdp;
      invite.reliable = null;
    }
  }

  /** After the response to a PRACK: a 2xx held back for it may go now. */
  private releaseHeldFinal(dialog: AppDialog | null): void {
    const invite = dialog ? this.findInboundInvite(dialog) : null;
    if (!invite) return;
    invite.prackUnanswered = false;
    if (!invite.heldFinal || invite.reliable) return;
    const send = invite.heldFinal;
    invite.heldFinal = null;
    send();
  }

  onAckFor2xx(ack: SipRequest, flow: Flow): void {
    const dialog = this.ctx.dialogs.findForRequest(ack.callId, ack.fromTag, ack.toTag);
    if (!dialog) return;
    const state = this.ctx.coreState(dialog);
    const pending = state.pendingAck;
    if (pending && pending.cseq === ack.cseq.seq) {
      this.ctx.stopPendingAck(state);
      dialog.confirm();
      this.ctx.deliverRequest(dialog.owner, ack, flow, pending.inviteTxnId, dialog.id);
      return;
    }
    if (ack.body.length > 0 || state.inviteTxnId) {
      this.ctx.deliverRequest(dialog.owner, ack, flow, state.inviteTxnId ?? randomUUID(), dialog.id);
      state.inviteTxnId = null;
    }
  }

  respondFromApp(app: ControlConnection, command: AppSipCommand, skeleton: SipResponse): void {
    const entry = this.ctx.inbound.get(command.txnId);
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
      this.ctx.setToTag(response, entry.localTag);
    }
    copyAppHeaders(skeleton.headers, response, SERVER_OWNED_HEADERS);
    const target = {
      protocol: entry.flow.protocol,
      address: entry.flow.remoteAddress,
      port: entry.flow.remotePort,
      connectionId: entry.flow.connectionId,
    };
    const point = this.ctx.localFor(target);
    const hp = hostPort(point, this.ctx.options.advertise);
    fixLocalhostHeaders(response, hp, transportSuffix(point));
    if (dialogForming && status > 100 && status < 300) {
      if (!response.has('contact')) response.append('Contact', this.ctx.ourContact(point));
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
      this.ctx.clock.clearTimeout(entry.appTimer);
      entry.appTimer = null;
    }
    const deliver = () => {
      const data = response.toBuffer();
      txn.respond(response, data);
      if (reliable) this.startReliableProvisional(entry, data, response.body.length > 0);
      if (request.method === 'INVITE' && txn === entry.txn)
        this.afterInviteResponse(entry, dialog, status, data);
      if (request.method === 'BYE' && status >= 200 && entry.dialog) this.ctx.removeDialog(entry.dialog);
      if (request.method === 'PRACK' && status >= 200) this.releaseHeldFinal(entry.dialog);
      if (request.method === 'REGISTER' && status >= 200 && status < 300)
        this.rememberRegisteredFlow(request, response, entry.flow);
      this.ctx.echo(app, command.msgId, data, target, command.txnId, dialog ? dialog.id : '');
      if (status >= 200 && txn === entry.txn && request.toTag === null)
        this.ctx.options.onAnswered?.(request, status, entry.flow);
      if (status >= 200 && txn === entry.txn && !(request.method === 'INVITE' && status < 300))
        this.forgetInbound(entry);
    };
    const mustWaitForPrack =
      request.method === 'INVITE' &&
      status >= 200 &&
      status < 300 &&
      (entry.reliable?.carriesSdp === true || entry.prackUnanswered);
    if (mustWaitForPrack) entry.heldFinal = deliver;
    else deliver();
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
        localContact: response.get('contact') ?? this.ctx.ourContact(point),
        flow: entry.flow,
        state: 'early',
      },
      entry.app,
    );
    this.ctx.dialogs.add(dialog);
    const state = this.ctx.coreState(dialog);
    state.inviteTxnId = entry.txnId;
    state.inboundInvite = entry;
    return dialog;
  }

  private afterInviteResponse(
    entry: InboundRequest,
    dialog: AppDialog | null,
    status: number,
    data: Buffer,
  ): void {
    if (status >= 300 && dialog) {
      if (dialog.state === 'early') this.ctx.removeDialog(dialog);
      return;
    }
    if (status < 200 || status >= 300) return;
    const target = dialog ?? entry.dialog;
    if (!target) return;
    entry.reliable?.retransmitter.stop();
    entry.reliable = null;
    const state = this.ctx.coreState(target);
    state.inviteTxnId = entry.txnId;
    this.ctx.stopPendingAck(state);
    const flowTarget = this.ctx.responseTarget(entry.flow);
    const pending: PendingAck = {
      inviteTxnId: entry.txnId,
      cseq: entry.request.cseq.seq,
      retransmitter: new Retransmitter(this.ctx.clock, this.ctx.timers, {
        unreliable: !isReliable(entry.flow.protocol),
        capAtT2: true,
        resend: () => this.ctx.transport.send(data, flowTarget).catch(() => undefined),
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

  private startReliableProvisional(entry: InboundRequest, data: Buffer, carriesSdp: boolean): void {
    entry.reliable?.retransmitter.stop();
    const target = this.ctx.responseTarget(entry.flow);
    const reliable: ReliableProvisional = {
      rseq: entry.lastRseq,
      carriesSdp,
      retransmitter: new Retransmitter(this.ctx.clock, this.ctx.timers, {
        unreliable: !isReliable(entry.flow.protocol),
        capAtT2: false,
        resend: () => this.ctx.transport.send(data, target).catch(() => undefined),
        giveUp: () => {
          if (entry.reliable !== reliable) return;
          entry.reliable = null;
          // No PRACK ever came: the app's 2xx is still better than leaving the caller hanging.
          const held = entry.heldFinal;
          entry.heldFinal = null;
          held?.();
        },
      }),
    };
    entry.reliable = reliable;
  }

  /** RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the session with a BYE; the app is told. */
  private onAckTimeout(dialog: AppDialog): void {
    this.ctx.logger.warn('no ACK for 2xx: ending the dialog', { callId: dialog.callId });
    const bye = this.ctx.buildInDialogRequest(dialog, 'BYE', []);
    bye.append('Reason', 'SIP;cause=200;text="ACK timeout"');
    const target = this.ctx.dialogTarget(dialog);
    bye.prepend('Via', this.ctx.newVia(this.ctx.localFor(target)));
    const txn = this.ctx.transactions.createClientTransaction(bye, target);
    const end = () => this.ctx.removeDialog(dialog);
    txn.on('response', (res: SipResponse) => {
      if (res.status >= 200) end();
    });
    txn.on('timeout', end);
    txn.on('transport-error', end);
    const data = bye.toBuffer();
    dialog.owner.notify(
      `sip|${metaBlock('application', data.length, this.ctx.flowOf(target))}|unsolicited|${dialog.id}|`,
      data,
    );
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
        this.ctx.registeredFlows.remember(
          `${addr.uri.user}@${addr.uri.host}`,
          flow,
          Number.isFinite(expires) ? expires : 0,
        );
      } catch {
        this.ctx.logger.debug('unparsable Contact in REGISTER', { contact });
      }
    }
  }
}

function safeTag(to: string | undefined): string | null {
  if (!to) return null;
  try {
    return parseNameAddr(to).params.get('tag') ?? null;
  } catch {
    return null;
  }
}
