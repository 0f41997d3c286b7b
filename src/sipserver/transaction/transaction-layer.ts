import type { SipRequest, SipResponse } from '../message';
import type { Flow, MessageSender, SendTarget } from '../transport/types';
import { InviteClientTransaction } from './invite-client-transaction';
import { InviteServerTransaction } from './invite-server-transaction';
import {
  clientTransactionKey,
  inviteDialogKey,
  isRfc2543Key,
  rfc2543ToTagMatches,
  serverTransactionKey,
} from './matching';
import { NonInviteClientTransaction } from './non-invite-client-transaction';
import { NonInviteServerTransaction } from './non-invite-server-transaction';
import { DEFAULT_TIMERS, systemClock, type Clock, type TimerSettings } from './timers';
import {
  ServerTransactionBase,
  type AnyTransaction,
  type TransactionContext,
  type TransactionLogger,
  type TransactionState,
} from './transaction';

export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

export interface TransactionLayerOptions {
  sender: MessageSender;
  timers?: TimerSettings;
  clock?: Clock;
  logger?: TransactionLogger;
}

export type RequestMatch =
  /** No transaction: the core creates one. */
  | { kind: 'new' }
  /** Absorbed; the last response (if any) was re-sent by the layer. */
  | { kind: 'retransmission' }
  /** ACK for a non-2xx final response: absorbed (IST → confirmed). */
  | { kind: 'ack-absorbed' }
  /** ACK for a 2xx: belongs to the dialog; `invite` is the IST while it is still in Accepted. */
  | { kind: 'ack-2xx'; invite: InviteServerTransaction | null };

const silentLogger: TransactionLogger = { debug: () => {}, warn: () => {} };

/** Creates transactions, routes incoming messages to them and forgets them once terminated. */
export class TransactionLayer {
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  /** ISTs in Accepted by dialog key: an ACK for a 2xx has a branch of its own (RFC 3261 §17.1.1.3). */
  private readonly acceptedInvites = new Map<string, InviteServerTransaction>();
  private readonly ctx: TransactionContext;

  constructor(options: TransactionLayerOptions) {
    const logger = options.logger ?? silentLogger;
    this.ctx = {
      sender: options.sender,
      timers: options.timers ?? DEFAULT_TIMERS,
      clock: options.clock ?? systemClock,
      logger,
      stateChanged: (transaction, state) => this.stateChanged(transaction, state),
    };
  }

  get counts(): { server: number; client: number } {
    return { server: this.servers.size, client: this.clients.size };
  }

  matchRequest(request: SipRequest, flow: Flow): RequestMatch {
    const key = serverTransactionKey(request);
    const found = key === null ? undefined : this.servers.get(key);
    const transaction = found && this.sameRfc2543Transaction(found, request) ? found : undefined;
    if (request.method === 'ACK') {
      if (transaction instanceof InviteServerTransaction) {
        const outcome = transaction.receiveAck();
        return outcome === 'accepted' ? { kind: 'ack-2xx', invite: transaction } : { kind: 'ack-absorbed' };
      }
      return { kind: 'ack-2xx', invite: this.acceptedInvites.get(inviteDialogKey(request)) ?? null };
    }
    if (!transaction) return { kind: 'new' };
    this.ctx.logger.debug('request retransmission', {
      id: transaction.id,
      state: transaction.state,
      source: `${flow.remoteAddress}:${flow.remotePort}`,
    });
    transaction.receiveRetransmission();
    return { kind: 'retransmission' };
  }

  createServerTransaction(request: SipRequest, flow: Flow): ServerTransaction {
    if (request.method === 'ACK') throw new Error('an ACK never creates a server transaction');
    const key = serverTransactionKey(request);
    if (key === null) throw new Error('request without a Via cannot start a transaction');
    if (this.servers.has(key)) throw new Error(`server transaction ${key} already exists`);
    const transaction =
      request.method === 'INVITE'
        ? new InviteServerTransaction(key, request, flow, this.ctx)
        : new NonInviteServerTransaction(key, request, flow, this.ctx);
    this.servers.set(key, transaction);
    return transaction;
  }

  /** The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2). */
  findInviteForCancel(cancel: SipRequest): InviteServerTransaction | null {
    const key = serverTransactionKey(cancel, 'INVITE');
    const found = key === null ? undefined : this.servers.get(key);
    return found instanceof InviteServerTransaction && this.sameRfc2543Transaction(found, cancel)
      ? found
      : null;
  }

  /** Starts a client transaction; the request must already carry its top Via with a branch. */
  /** `bytes`: the request as the caller already serialised it (else it is serialised here). */
  createClientTransaction(request: SipRequest, target: SendTarget, bytes?: Buffer): ClientTransaction {
    if (request.method === 'ACK') throw new Error('an ACK is sent without a client transaction');
    const key = clientTransactionKey(request, request.method);
    if (key === null) throw new Error('request needs a top Via with a branch');
    if (this.clients.has(key)) throw new Error(`client transaction ${key} already exists`);
    const transaction =
      request.method === 'INVITE'
        ? new InviteClientTransaction(key, request, target, this.ctx, bytes)
        : new NonInviteClientTransaction(key, request, target, this.ctx, bytes);
    this.clients.set(key, transaction);
    transaction.start();
    return transaction;
  }

  /** Hands a response to its client transaction; false when none matches (the core decides). */
  matchResponse(response: SipResponse, flow: Flow): boolean {
    const key = clientTransactionKey(response, response.cseq.method);
    const transaction = key === null ? undefined : this.clients.get(key);
    if (!transaction) return false;
    transaction.receiveResponse(response, flow);
    return true;
  }

  /** Stops every timer and forgets every transaction, without events. */
  close(): void {
    for (const transaction of this.servers.values()) transaction.dispose();
    for (const transaction of this.clients.values()) transaction.dispose();
    this.servers.clear();
    this.clients.clear();
    this.acceptedInvites.clear();
  }

  private sameRfc2543Transaction(transaction: ServerTransaction, request: SipRequest): boolean {
    return (
      !isRfc2543Key(transaction.id) ||
      rfc2543ToTagMatches(request, transaction.request, transaction.lastResponse)
    );
  }

  private stateChanged(transaction: AnyTransaction, state: TransactionState): void {
    if (transaction instanceof InviteServerTransaction) {
      const dialogKey = inviteDialogKey(transaction.request);
      if (state === 'accepted') this.acceptedInvites.set(dialogKey, transaction);
      else if (this.acceptedInvites.get(dialogKey) === transaction) this.acceptedInvites.delete(dialogKey);
    }
    if (state !== 'terminated') return;
    if (transaction instanceof ServerTransactionBase) {
      if (this.servers.get(transaction.id) === transaction) this.servers.delete(transaction.id);
    } else if (this.clients.get(transaction.id) === transaction) {
      this.clients.delete(transaction.id);
    }
  }
}
