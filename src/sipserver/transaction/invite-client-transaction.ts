import { SipRequest, type SipResponse } from '../message';
import type { Flow, SendTarget } from '../transport/types';
import { ClientTransactionBase, type TransactionContext } from './transaction';

/**
 * RFC 3261 §17.1.1 INVITE client transaction with RFC 6026's Accepted state:
 * calling → proceeding → completed (non-2xx, ACKed here) or accepted (2xx, ACKed by the dialog).
 */
export class InviteClientTransaction extends ClientTransactionBase {
  private retransmitInterval = 0;
  private ackBytes: Buffer | null = null;

  constructor(id: string, request: SipRequest, target: SendTarget, ctx: TransactionContext, bytes?: Buffer) {
    super(id, request, target, ctx, 'calling', bytes);
  }

  /** A CANCEL may be sent only once a provisional response arrived (RFC 3261 §9.1). */
  get cancelable(): boolean {
    return this.state === 'proceeding';
  }

  start(): void {
    this.sendRequest();
    if (!this.reliable) {
      this.retransmitInterval = this.ctx.timers.t1;
      this.startTimer('A', this.retransmitInterval, () => this.retransmit());
    }
    this.startTimer('B', this.lifetime, () => this.timeOut());
  }

  receiveResponse(response: SipResponse, flow: Flow): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        // Any response proves the request arrived; Timer B only guards the Calling state.
        this.stopTimer('A');
        this.stopTimer('B');
        if (status < 200) {
          this.enter('proceeding');
          this.emitResponse(response, flow);
        } else if (status < 300) {
          this.enter('accepted');
          this.startTimer('M', this.lifetime, () => this.terminate());
          this.emitResponse(response, flow);
        } else {
          this.enter('completed');
          this.ackBytes = buildAckForFailure(this.request, response).toBuffer();
          this.sendToTarget(this.ackBytes);
          // A throwing listener must not keep the transaction alive forever.
          try {
            this.emitResponse(response, flow);
          } finally {
            // RFC 3261 Table 4 asks for at least 32 s on UDP: 64*T1 is that with the default T1 and
            // scales with a shorter T1 configured for a fast network (or a test).
            this.lingerFor('D', this.reliable ? 0 : this.lifetime);
          }
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: every 2xx (retransmitted or from another fork) goes up so the dialog ACKs it.
        if (status >= 200 && status < 300) this.emitResponse(response, flow);
        return;
      case 'completed':
        if (status >= 300 && this.ackBytes) this.sendToTarget(this.ackBytes);
        return;
      default:
        return;
    }
  }

  private retransmit(): void {
    this.sendRequest();
    this.retransmitInterval *= 2;
    this.startTimer('A', this.retransmitInterval, () => this.retransmit());
  }
}

/**
 * The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's top Via (same
 * branch), Request-URI, Call-ID, From and Route set, the response's To (with its tag), and
 * the INVITE's CSeq number with method ACK.
 */
export function buildAckForFailure(invite: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest('ACK', invite.uri);
  const topVia = invite.getAll('via')[0];
  if (topVia !== undefined) ack.append('Via', topVia);
  ack.append('Max-Forwards', '70');
  for (const header of invite.headers) if (header.key === 'route') ack.headers.push({ ...header });
  ack.append('From', invite.get('from') ?? '');
  ack.append('To', response.get('to') ?? '');
  ack.append('Call-ID', invite.callId);
  ack.append('CSeq', `${invite.cseq.seq} ACK`);
  return ack;
}
