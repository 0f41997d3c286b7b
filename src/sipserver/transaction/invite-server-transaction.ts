import type { SipRequest, SipResponse } from '../message';
import type { Flow } from '../transport/types';
import { ServerTransactionBase, type TransactionContext } from './transaction';

/** What an ACK that matched this transaction means. */
export type AckOutcome = 'absorbed' | 'accepted';

/**
 * RFC 3261 §17.2.1 INVITE server transaction with RFC 6026's Accepted state:
 * proceeding → completed → confirmed for non-2xx finals, proceeding → accepted for 2xx.
 * Nothing is sent on its own but retransmissions of a non-2xx final: the TU sends 100 Trying,
 * and the dialog layer retransmits its 2xx through respond().
 */
export class InviteServerTransaction extends ServerTransactionBase {
  private retransmitInterval = 0;

  constructor(id: string, request: SipRequest, flow: Flow, ctx: TransactionContext) {
    super(id, request, flow, ctx, 'proceeding');
  }

  respond(response: SipResponse, bytes?: Buffer): boolean {
    const status = response.status;
    switch (this.state) {
      case 'proceeding':
        this.sendResponse(response, bytes);
        if (status >= 300) this.complete();
        else if (status >= 200) this.accept();
        return true;
      case 'accepted':
        // RFC 6026 §7.1: only the TU's 2xx retransmissions pass through Accepted.
        if (status < 200 || status >= 300) return false;
        this.sendResponse(response, bytes);
        return true;
      default:
        return false;
    }
  }

  receiveRetransmission(): void {
    // Accepted absorbs the INVITE without a resend: the 2xx is the dialog layer's to retransmit.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLastResponse();
  }

  /** An ACK with this transaction's branch: stops Timer G/H after a non-2xx (RFC 3261 §17.2.1). */
  receiveAck(): AckOutcome {
    if (this.state === 'accepted') return 'accepted';
    if (this.state === 'completed') {
      this.stopTimer('G');
      this.stopTimer('H');
      this.enter('confirmed');
      this.lingerFor('I', this.reliable ? 0 : this.ctx.timers.t4);
    }
    return 'absorbed';
  }

  private complete(): void {
    this.enter('completed');
    if (!this.reliable) {
      this.retransmitInterval = this.ctx.timers.t1;
      this.startTimer('G', this.retransmitInterval, () => this.retransmitFinal());
    }
    this.startTimer('H', this.lifetime, () => this.timeOut());
  }

  private retransmitFinal(): void {
    this.resendLastResponse();
    this.retransmitInterval = Math.min(2 * this.retransmitInterval, this.ctx.timers.t2);
    this.startTimer('G', this.retransmitInterval, () => this.retransmitFinal());
  }

  private accept(): void {
    this.enter('accepted');
    this.startTimer('L', this.lifetime, () => this.terminate());
  }
}
