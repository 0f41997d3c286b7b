import type { SipRequest } from '../message';
import type { ClientTransaction, ServerTransaction } from '../transaction/transaction-layer';
import type { Dialog } from '../dialog/dialog';
import type { Flow } from '../transport/types';
import type { ControlConnection } from '../wire/control-connection';
import type { TimerHandle } from '../transaction/timers';
import type { Retransmitter } from './retransmitter';

export type AppDialog = Dialog<ControlConnection>;

/** A request from the network that an app is handling, addressed by its drachtio txnId. */
export interface InboundRequest {
  txnId: string;
  app: ControlConnection;
  request: SipRequest;
  flow: Flow;
  txn: ServerTransaction;
  /** Our To tag for this request's responses (stable across them). */
  localTag: string | null;
  dialog: AppDialog | null;
  /** An UPDATE inside this INVITE's early dialog, answered with this INVITE's txnId. */
  pendingUpdate: ServerTransaction | null;
  lastRseq: number;
  reliable: ReliableProvisional | null;
  /**
   * A 2xx the app sent while a reliable provisional with SDP was still unacknowledged: RFC 3262
   * §3 forbids sending it before the PRACK, so it goes out once the PRACK has been answered.
   */
  heldFinal: (() => void) | null;
  /**
   * That PRACK arrived but the app has not answered it yet: the 2xx still waits, so the caller
   * sees the PRACK's 200 before the INVITE's.
   */
  prackUnanswered: boolean;
  appTimer: TimerHandle | null;
}

/** A reliable provisional response retransmitted until its PRACK arrives (RFC 3262 §3). */
export interface ReliableProvisional {
  rseq: number;
  retransmitter: Retransmitter;
  carriesSdp: boolean;
}

/** A request an app sent, addressed by the txnId the server gave it. */
export interface OutboundRequest {
  txnId: string;
  app: ControlConnection;
  request: SipRequest;
  txn: ClientTransaction;
  dialog: AppDialog | null;
  /** A CANCEL the app asked for before any provisional response (RFC 3261 §9.1: wait). */
  deferredCancel: SipRequest | null;
  final: boolean;
  seenRseqs: Set<number>;
}

/** A 2xx to an INVITE, retransmitted until the ACK arrives (RFC 3261 §13.3.1.4). */
export interface PendingAck {
  inviteTxnId: string;
  cseq: number;
  retransmitter: Retransmitter;
}
