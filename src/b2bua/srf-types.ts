/**
 * The parts of drachtio-srf the B2BUA uses, typed as they behave (the package's own typings
 * disagree with its code in places, e.g. cbRequest's arguments and Dialog#request options).
 */

export interface SipHeaders {
  [name: string]: string;
}

export interface IncomingMessage {
  body: string;
  source_address: string;
  source_port: number | string;
  protocol: string;
  get(name: string): string | undefined;
  has(name: string): boolean;
}

export interface IncomingRequest extends IncomingMessage {
  method: string;
  uri: string;
  on(event: 'cancel', listener: () => void): void;
}

export interface ResponseSink {
  finalResponseSent: boolean;
  send(status: number, reason?: string, opts?: { headers?: SipHeaders; body?: string }): void;
}

export interface IncomingResponse extends IncomingMessage {
  status: number;
  reason: string;
}

/** An INVITE we sent: can be cancelled until its final response. */
export interface SentRequest {
  cancel(): void;
}

export interface SipDialog {
  sip: { callId: string; localTag: string; remoteTag: string };
  local: { sdp: string };
  remote: { sdp: string };
  connected: boolean;
  destroy(opts?: { headers?: SipHeaders }): Promise<unknown>;
  modify(sdp: string): Promise<string>;
  request(opts: { method: string; headers?: SipHeaders; body?: string }): Promise<IncomingResponse>;
  on(event: 'destroy', listener: (req: IncomingRequest) => void): this;
  on(
    event: 'modify' | 'update' | 'info' | 'refer' | 'notify' | 'message',
    listener: (req: IncomingRequest, res: ResponseSink) => void,
  ): this;
}

export interface UacProgress {
  cbRequest(err: Error | null, req?: SentRequest): void;
  cbProvisional(res: IncomingResponse): void;
}

/** A failed createUAC: a SIP final response, or a local error (no route, connection refused). */
export interface SipFailure extends Error {
  status?: number;
  reason?: string;
  res?: IncomingResponse;
}

export interface SrfForCalls {
  use(method: 'invite', handler: (req: IncomingRequest, res: ResponseSink) => void): void;
  createUAC(
    uri: string,
    opts: { headers: SipHeaders; localSdp: string; proxy?: string },
    progress: UacProgress,
  ): Promise<SipDialog>;
  createUAS(
    req: IncomingRequest,
    res: ResponseSink,
    opts: { localSdp: string; headers?: SipHeaders },
  ): Promise<SipDialog>;
}
