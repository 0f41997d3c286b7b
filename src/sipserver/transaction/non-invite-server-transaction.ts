import type { SipRequest, SipResponse } from '../message';
import type { Flow } from '../transport/types';
import { isRfc2543Key } from './matching';
import { ServerTransactionBase, type TransactionContext } from './transaction';

/**
 * RFC 3261 §17.2.2 non-INVITE server transaction: trying → proceeding → completed. A
 * retransmitted request gets the last response again; Timer J keeps the final around on UDP.
 */
export class NonInviteServerTransaction extends ServerTransactionBase {
  constructor(id: string, request: SipRequest, flow: Flow, ctx: TransactionContext) {
    super(id, request, flow, ctx, 'trying');
  }

  respond(response: SipResponse, bytes?: Buffer): boolean {
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.sendResponse(response, bytes);
    if (response.status < 200) {
      this.enter('proceeding');
    } else {
      this.enter('completed');
      this.lingerFor('J', this.reliable ? 0 : this.lifetime);
      // An RFC 2543 request (no magic cookie) is matched by comparing it with the request and the
      // response, so only RFC 3261 transactions can let them go.
      if (!this.reliable && !isRfc2543Key(this.id)) this.keepOnlyLastBytes();
    }
    return true;
  }

  receiveRetransmission(): void {
    // In Trying there is nothing to resend yet: the TU has not answered.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLastResponse();
  }
}
