import type { SipRequest, SipResponse } from '../message';
import type { Flow, SendTarget } from '../transport/types';
import { ClientTransactionBase, type TransactionContext } from './transaction';

/**
 * RFC 3261 §17.1.2 non-INVITE client transaction: trying → proceeding → completed. Timer E
 * retransmits on UDP (doubling up to T2, every T2 once a provisional came), Timer F gives up.
 */
export class NonInviteClientTransaction extends ClientTransactionBase {
  private retransmitInterval = 0;

  constructor(id: string, request: SipRequest, target: SendTarget, ctx: TransactionContext, bytes?: Buffer) {
    super(id, request, target, ctx, 'trying', bytes);
  }

  start(): void {
    this.sendRequest();
    if (!this.reliable) {
      this.retransmitInterval = this.ctx.timers.t1;
      this.startTimer('E', this.retransmitInterval, () => this.retransmit());
    }
    this.startTimer('F', this.lifetime, () => this.timeOut());
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (response.status < 200) {
      this.enter('proceeding');
      this.emitResponse(response, flow);
      return;
    }
    this.stopTimer('E');
    this.stopTimer('F');
    this.enter('completed');
    // A throwing listener must not keep the transaction alive forever.
    try {
      this.emitResponse(response, flow);
    } finally {
      this.lingerFor('K', this.reliable ? 0 : this.ctx.timers.t4);
    }
  }

  private retransmit(): void {
    this.sendRequest();
    const { t2 } = this.ctx.timers;
    this.retransmitInterval = this.state === 'proceeding' ? t2 : Math.min(2 * this.retransmitInterval, t2);
    this.startTimer('E', this.retransmitInterval, () => this.retransmit());
  }
}
