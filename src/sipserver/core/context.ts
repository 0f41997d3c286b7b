import {
  createResponse,
  parseNameAddr,
  reasonPhrase,
  SipRequest,
  SipResponse,
  type AnySipMessage,
} from '../message';
import { DialogTable } from '../dialog/dialog-table';
import { generateBranch } from '../transaction/branch';
import { type Clock, type TimerSettings } from '../transaction/timers';
import { TransactionLayer, type ServerTransaction } from '../transaction/transaction-layer';
import { TransportLayer } from '../transport/transport-layer';
import {
  isReliable,
  viaTransport,
  type Flow,
  type ListeningPoint,
  type SendTarget,
} from '../transport/types';
import type { ControlConnection } from '../wire/control-connection';
import { type WireLogger } from '../wire/logger';
import { metaBlock } from '../wire/meta';
import { contactUri, copyAppHeaders, hostPort, randomTag, SERVER_OWNED_HEADERS, withTag } from './completion';
import type { AppDialog, InboundRequest, OutboundRequest, PendingAck } from './records';
import { RegisteredFlows } from './registered-flows';
import { pickLocal } from './targets';

export interface CoreOptions {
  advertise?: string;
  /** An app's final answer to a new out-of-dialog request has been sent. */
  onAnswered?: (request: SipRequest, status: number, flow: Flow) => void;
}

export interface DialogCoreState {
  /** INVITE txnId an ACK reported to the app refers to. */
  inviteTxnId: string | null;
  pendingAck: PendingAck | null;
  /** Our INVITE (initial or re-INVITE) waiting for a final response. */
  outstandingInvite: OutboundRequest | null;
  /** The INVITE (initial or re-INVITE) from the peer that the app has not answered finally yet. */
  inboundInvite: InboundRequest | null;
}

/**
 * What the UAS and UAC halves of the server core share: the layers below, the dialog table,
 * the requests apps are handling or sent, and the helpers that build and address messages.
 */
export class CoreContext {
  readonly dialogs = new DialogTable<ControlConnection>();
  readonly dialogState = new Map<AppDialog, DialogCoreState>();
  readonly inbound = new Map<string, InboundRequest>();
  readonly inboundByTxn = new Map<ServerTransaction, InboundRequest>();
  readonly outbound = new Map<string, OutboundRequest>();
  readonly registeredFlows = new RegisteredFlows();
  points: ListeningPoint[] = [];

  constructor(
    readonly options: CoreOptions,
    readonly transport: TransportLayer,
    readonly transactions: TransactionLayer,
    readonly logger: WireLogger,
    readonly timers: TimerSettings,
    readonly clock: Clock,
  ) {}

  /**
   * The listener a message to `target` leaves from (its Via and Contact). A UDP target is pinned
   * to it, so the transport sends from the socket whose address the headers name.
   */
  localFor(target: SendTarget): ListeningPoint {
    const point = pickLocal(this.points, target, (local, remote) =>
      this.transport.routes.score(local, remote),
    );
    if (!point) throw new Error(`no ${target.protocol} listener to send from`);
    if (target.protocol === 'udp' && point.protocol === 'udp' && target.localAddress === undefined) {
      target.localAddress = point.address;
      target.localPort = point.port;
    }
    return point;
  }

  ourContact(point: ListeningPoint): string {
    return `<${contactUri(point, this.options.advertise)}>`;
  }

  newVia(point: ListeningPoint): string {
    return `SIP/2.0/${viaTransport(point.protocol)} ${hostPort(point, this.options.advertise)};branch=${generateBranch()};rport`;
  }

  respondNew(
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

  setToTag(response: SipResponse, tag: string): void {
    const to = response.get('to');
    if (to !== undefined) response.set('To', withTag(to, tag));
  }

  trying(request: SipRequest): SipResponse {
    return createResponse(request, 100);
  }

  deliverRequest(
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

  echo(
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

  refreshTarget(dialog: AppDialog, message: AnySipMessage): void {
    const contact = message.getAll('contact')[0];
    if (!contact) return;
    try {
      dialog.remoteTarget = parseNameAddr(contact).uriText;
    } catch {
      this.logger.debug('unparsable Contact in target refresh', { callId: dialog.callId });
    }
  }

  responseTarget(flow: Flow): SendTarget {
    return {
      protocol: flow.protocol,
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    };
  }

  flowOf(target: SendTarget): Flow {
    return {
      protocol: target.protocol,
      localAddress: '',
      localPort: 0,
      remoteAddress: target.address,
      remotePort: target.port,
      connectionId: target.connectionId,
    };
  }

  buildInDialogRequest(dialog: AppDialog, method: string, appHeaders: SipRequest['headers']): SipRequest {
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
  dialogTarget(dialog: AppDialog): SendTarget {
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

  sendAckBuffer(dialog: AppDialog, data: Buffer): void {
    this.transport
      .send(data, this.dialogTarget(dialog))
      .catch((e: Error) => this.logger.debug('ACK not sent', { err: e.message }));
  }

  coreState(dialog: AppDialog): DialogCoreState {
    let state = this.dialogState.get(dialog);
    if (!state) {
      state = { inviteTxnId: null, pendingAck: null, outstandingInvite: null, inboundInvite: null };
      this.dialogState.set(dialog, state);
    }
    return state;
  }

  stopPendingAck(state: DialogCoreState): void {
    state.pendingAck?.retransmitter.stop();
    state.pendingAck = null;
  }

  removeDialog(dialog: AppDialog): void {
    dialog.terminate();
    const state = this.dialogState.get(dialog);
    if (state) this.stopPendingAck(state);
    this.dialogState.delete(dialog);
    this.dialogs.remove(dialog);
  }

  sendStateless(response: SipResponse, flow: Flow): void {
    this.transport
      .send(response.toBuffer(), {
        protocol: flow.protocol,
        address: flow.remoteAddress,
        port: flow.remotePort,
        connectionId: flow.connectionId,
      })
      .catch((e: Error) => this.logger.debug('stateless response not sent', { err: e.message }));
  }
}
