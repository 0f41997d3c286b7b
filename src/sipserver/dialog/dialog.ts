import type { Flow } from '../transport/types';

export type DialogRole = 'uas' | 'uac';
export type DialogState = 'early' | 'confirmed' | 'terminated';

/**
 * RFC 3261 §12 dialog state, for one side of a session the server holds for an app.
 * The id follows drachtio's convention `<Call-ID>;from-tag=<From tag of the creating request>`
 * (apps depend on it); state moves early -> confirmed -> terminated and never back.
 */
export class Dialog<Owner = unknown> {
  state: DialogState;
  /** Full From/To values for requests we send: local is our side, remote theirs (with tags). */
  localParty: string;
  remoteParty: string;
  localSeq: number;
  remoteSeq: number | null;
  remoteTarget: string;
  /** Route headers for requests we send, in order (RFC 3261 §12.1). */
  routeSet: string[];
  localContact: string;
  /** The path the dialog's peer reached us on: in-dialog requests follow it past NATs. */
  flow: Flow;
  /** CSeq of the INVITE whose 2xx our ACK answers (UAC role, and our re-INVITEs). */
  ackCseq: number | null = null;
  /** The last ACK we sent, re-sent when the 2xx it answers is retransmitted. */
  lastAck: Buffer | null = null;

  constructor(
    readonly role: DialogRole,
    readonly callId: string,
    readonly localTag: string,
    public remoteTag: string,
    init: {
      localParty: string;
      remoteParty: string;
      localSeq: number;
      remoteSeq: number | null;
      remoteTarget: string;
      routeSet: string[];
      localContact: string;
      flow: Flow;
      state: DialogState;
    },
    readonly owner: Owner,
  ) {
    this.localParty = init.localParty;
    this.remoteParty = init.remoteParty;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localContact = init.localContact;
    this.flow = init.flow;
    this.state = init.state;
  }

  get id(): string {
    return dialogId(this.callId, this.role === 'uas' ? this.remoteTag : this.localTag);
  }

  confirm(): void {
    if (this.state === 'early') this.state = 'confirmed';
  }

  terminate(): void {
    this.state = 'terminated';
  }

  nextLocalSeq(): number {
    this.localSeq += 1;
    return this.localSeq;
  }

  /**
   * RFC 3261 §12.2.2: a request whose CSeq is lower than the last one seen is out of order.
   * Returns false for such a request; otherwise records it.
   */
  acceptRemoteSeq(seq: number): boolean {
    if (this.remoteSeq !== null && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }
}

export function dialogId(callId: string, creatorFromTag: string): string {
  return `${callId};from-tag=${creatorFromTag}`;
}
