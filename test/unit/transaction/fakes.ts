import {
  createResponse,
  parseMessage,
  SipRequest,
  SipResponse,
  type AnySipMessage,
} from '../../../src/sipserver/message';
import type { Clock, TimerHandle } from '../../../src/sipserver/transaction/timers';
import type {
  Flow,
  MessageSender,
  SendTarget,
  TransportProtocol,
} from '../../../src/sipserver/transport/types';

/** A clock that only moves when told to, firing due timers in order. */
export class FakeClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (also ones set while firing). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Infinity;
      // Map iteration is in insertion order, so equal instants fire in the order they were set.
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && timer.at < dueAt) {
          dueId = id;
          dueAt = timer.at;
        }
      }
      if (dueId < 0) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.time = timer.at;
      timer.fn();
    }
    this.time = end;
  }

  /** Advances to an absolute instant. */
  advanceTo(at: number): void {
    this.advance(at - this.time);
  }
}

export interface SentMessage {
  at: number;
  target: SendTarget;
  message: AnySipMessage;
}

/** Records every send; `failNext` makes sends reject like a dead connection. */
export class FakeSender implements MessageSender {
  readonly sent: SentMessage[] = [];
  failNext = 0;

  constructor(private readonly clock: FakeClock) {}

  send(data: Buffer, target: SendTarget): Promise<Flow> {
    this.sent.push({ at: this.clock.now(), target, message: parseMessage(data) });
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('connection refused'));
    }
    return Promise.resolve({
      protocol: target.protocol,
      localAddress: '127.0.0.1',
      localPort: 45060,
      remoteAddress: target.address,
      remotePort: target.port,
      connectionId: target.connectionId,
    });
  }

  /** Instants of every send whose start line begins with `startLine`. */
  instants(startLine: string): number[] {
    return this.sent.filter((s) => s.message.startLine().startsWith(startLine)).map((s) => s.at);
  }
}

export function flowFor(protocol: TransportProtocol, remotePort = 45070): Flow {
  return {
    protocol,
    localAddress: '127.0.0.1',
    localPort: 45060,
    remoteAddress: '127.0.0.1',
    remotePort,
    connectionId: protocol === 'udp' ? undefined : `conn-${remotePort}`,
  };
}

export function targetFor(protocol: TransportProtocol): SendTarget {
  return { protocol, address: '127.0.0.1', port: 45080 };
}

export interface RequestSpec {
  method?: string;
  branch?: string;
  sentBy?: string;
  transport?: string;
  uri?: string;
  cseq?: number;
  cseqMethod?: string;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  extraHeaders?: string[];
}

export function makeRequest(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const to = spec.toTag ? `<sip:bob@example.com>;tag=${spec.toTag}` : '<sip:bob@example.com>';
  const lines = [
    `${method} ${spec.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    `Via: SIP/2.0/${spec.transport ?? 'UDP'} ${spec.sentBy ?? '127.0.0.1:45070'};branch=${spec.branch ?? 'z9hG4bKtest1'};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@example.com>;tag=${spec.fromTag ?? 'from1'}`,
    `To: ${to}`,
    `Call-ID: ${spec.callId ?? 'call-1@127.0.0.1'}`,
    `CSeq: ${spec.cseq ?? 1} ${spec.cseqMethod ?? method}`,
    ...(spec.extraHeaders ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

/** A response to `request`, with a To-tag on everything but 100. */
export function makeResponse(request: SipRequest, status: number, toTag = 'to1'): SipResponse {
  const response = createResponse(request, status);
  if (status > 100 && !request.toTag) response.set('To', `${request.get('to')};tag=${toTag}`);
  return response;
}
