import { EventEmitter } from 'node:events';
import type { SipRequest, SipResponse } from '../message';
import { isReliable, type Flow, type MessageSender, type SendTarget } from '../transport/types';
import type { Clock, TimerHandle, TimerSettings } from './timers';

export type TransactionState =
  'calling' | 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** RFC 3261 §17 timer letters (A–K) and RFC 6026's L and M. */
export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M';

export interface TransactionLogger {
  debug(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
}

/** What every transaction needs from the layer that owns it. */
export interface TransactionContext {
  sender: MessageSender;
  timers: TimerSettings;
  clock: Clock;
  logger: TransactionLogger;
  /** Lets the layer index accepted INVITEs and forget terminated transactions. */
  stateChanged(transaction: AnyTransaction, state: TransactionState): void;
}

export interface ServerTransactionEvents {
  terminated: [];
  timeout: [];
  'transport-error': [err: Error];
}

export interface ClientTransactionEvents extends ServerTransactionEvents {
  response: [response: SipResponse, flow: Flow];
}

/**
 * State, named timers, sending and termination shared by the four state machines. Sends never
 * throw: a rejected send ends the transaction with 'transport-error' (RFC 3261 §17.1.4, §17.2.4).
 */
export abstract class Transaction<
  Events extends ServerTransactionEvents & Record<keyof Events, unknown[]> = ServerTransactionEvents,
> extends EventEmitter<Events> {
  private current: TransactionState;
  private requestHeld: SipRequest | null;
  private readonly timers = new Map<TimerName, TimerHandle>();
  /** UDP needs retransmissions and absorbing timers; reliable transports do not. */
  protected readonly reliable: boolean;

  protected constructor(
    /** The matching key, also used in logs. */
    readonly id: string,
    request: SipRequest,
    protocol: Flow['protocol'],
    protected readonly ctx: TransactionContext,
    initialState: TransactionState,
  ) {
    super();
    this.requestHeld = request;
    this.current = initialState;
    this.reliable = isReliable(protocol);
  }

  get state(): TransactionState {
    return this.current;
  }

  get request(): SipRequest {
    if (this.requestHeld === null) throw new Error(`transaction ${this.id} no longer holds its request`);
    return this.requestHeld;
  }

  /** For a transaction that from now on only matches by its id and resends bytes. */
  protected releaseRequest(): void {
    this.requestHeld = null;
  }

  /**
   * Ends the transaction at once, without a response. For the TU that gives up, e.g. an INVITE
   * whose CANCEL brought no final response within 64*T1 (RFC 3261 §9.1).
   */
  terminate(): void {
    if (this.current === 'terminated') return;
    this.stopTimers();
    this.enter('terminated');
    this.baseEvents.emit('terminated');
  }

  /** Stops every timer and forgets the transaction without events: the layer is shutting down. */
  dispose(): void {
    this.stopTimers();
    this.current = 'terminated';
  }

  protected enter(state: TransactionState): void {
    if (this.current === state) return;
    this.ctx.logger.debug('transaction state', { id: this.id, from: this.current, to: state });
    this.current = state;
    // Every concrete transaction derives from one of the two bases below.
    this.ctx.stateChanged(this as unknown as AnyTransaction, state);
  }

  /** 64*T1: Timers B, F, H, J, L and M. */
  protected get lifetime(): number {
    return 64 * this.ctx.timers.t1;
  }

  protected startTimer(name: TimerName, ms: number, fire: () => void): void {
    this.stopTimer(name);
    const handle = this.ctx.clock.setTimeout(() => {
      this.timers.delete(name);
      if (this.current !== 'terminated') this.guarded(`timer ${name}`, fire);
    }, ms);
    this.timers.set(name, handle);
  }

  protected stopTimer(name: TimerName): void {
    const handle = this.timers.get(name);
    if (handle === undefined) return;
    this.ctx.clock.clearTimeout(handle);
    this.timers.delete(name);
  }

  private stopTimers(): void {
    for (const handle of this.timers.values()) this.ctx.clock.clearTimeout(handle);
    this.timers.clear();
  }

  /**
   * Keeps a finished transaction around for `ms` to absorb retransmissions. On reliable
   * transports that time is zero (Timers D, I, J, K), so it ends now.
   */
  protected lingerFor(name: TimerName, ms: number): void {
    if (ms <= 0) this.terminate();
    else this.startTimer(name, ms, () => this.terminate());
  }

  /** Ends the transaction as failed because a timer ran out (B, F, H). */
  protected timeOut(): void {
    this.ctx.logger.debug('transaction timeout', { id: this.id, state: this.current });
    this.stopTimers();
    try {
      this.baseEvents.emit('timeout');
    } finally {
      this.terminate();
    }
  }

  protected transmit(data: Buffer, target: SendTarget, sent?: (flow: Flow) => void): void {
    let pending: Promise<Flow>;
    try {
      pending = this.ctx.sender.send(data, target);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (flow) => {
        if (sent) this.guarded('send', () => sent(flow));
      },
      (err: unknown) => this.guarded('transport error', () => this.failTransport(err)),
    );
  }

  private failTransport(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.ctx.logger.warn('transaction transport error', { id: this.id, error: error.message });
    if (this.current === 'terminated') return;
    this.stopTimers();
    try {
      this.baseEvents.emit('transport-error', error);
    } finally {
      this.terminate();
    }
  }

  /** Timer and promise callbacks must never throw, whatever a listener does. */
  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.logger.warn(`transaction ${what} failed`, { id: this.id, error: String(err) });
    }
  }

  /** The events every kind has; `Events` is generic here, so TS needs the base map to emit them. */
  private get baseEvents(): EventEmitter<ServerTransactionEvents> {
    return this as unknown as EventEmitter<ServerTransactionEvents>;
  }
}

export type AnyTransaction = ServerTransactionBase | ClientTransactionBase;

/** Where a response goes: the connection the request came on if still open, else its source (RFC 3581). */
export function responseTarget(flow: Flow): SendTarget {
  return {
    protocol: flow.protocol,
    address: flow.remoteAddress,
    port: flow.remotePort,
    connectionId: flow.connectionId,
  };
}

/** Response sending and the last-response memory shared by both server transactions. */
export abstract class ServerTransactionBase extends Transaction<ServerTransactionEvents> {
  private last: SipResponse | null = null;
  private lastBytes: Buffer | null = null;

  protected constructor(
    id: string,
    request: SipRequest,
    readonly flow: Flow,
    ctx: TransactionContext,
    initialState: TransactionState,
  ) {
    super(id, request, flow.protocol, ctx, initialState);
  }

  get lastResponse(): SipResponse | null {
    return this.last;
  }

  /**
   * Sends the TU's response and drives the state machine; false when the state ignores it.
   * `bytes`: the response already serialised by the caller, so it is not serialised twice.
   */
  abstract respond(response: SipResponse, bytes?: Buffer): boolean;

  /** A retransmission of the request (or a retransmitted ACK) arrived. */
  abstract receiveRetransmission(): void;

  protected sendResponse(response: SipResponse, bytes = response.toBuffer()): void {
    this.last = response;
    this.lastBytes = bytes;
    this.transmit(this.lastBytes, responseTarget(this.flow));
  }

  /**
   * Keeps only what absorbing retransmissions needs (the id, the flow, the final's bytes): in a
   * REGISTER storm 64*T1 of finished transactions held their parsed request and response, about
   * 4 KB each, hundreds of MB at a few thousand REGISTERs a second.
   */
  protected keepOnlyLastBytes(): void {
    this.last = null;
    this.releaseRequest();
  }

  protected resendLastResponse(): void {
    if (this.lastBytes) this.transmit(this.lastBytes, responseTarget(this.flow));
  }
}

/** Request sending shared by both client transactions. */
export abstract class ClientTransactionBase extends Transaction<ClientTransactionEvents> {
  /** `target`, plus the connection the first send used, so retransmissions and the ACK follow it. */
  private route: SendTarget;
  private requestBytes: Buffer | null = null;

  protected constructor(
    id: string,
    request: SipRequest,
    readonly target: SendTarget,
    ctx: TransactionContext,
    initialState: TransactionState,
    /** The request already serialised by the caller, if it was. */
    bytes: Buffer | undefined,
  ) {
    super(id, request, target.protocol, ctx, initialState);
    this.route = target;
    this.requestBytes = bytes ?? null;
  }

  /** Sends the request for the first time and starts the timers. */
  abstract start(): void;

  abstract receiveResponse(response: SipResponse, flow: Flow): void;

  protected sendRequest(): void {
    this.requestBytes ??= this.request.toBuffer();
    this.sendToTarget(this.requestBytes);
  }

  protected sendToTarget(data: Buffer): void {
    this.transmit(data, this.route, (flow) => {
      if (flow.connectionId !== undefined && this.route.connectionId === undefined)
        this.route = { ...this.route, connectionId: flow.connectionId };
    });
  }

  protected emitResponse(response: SipResponse, flow: Flow): void {
    this.emit('response', response, flow);
  }
}
