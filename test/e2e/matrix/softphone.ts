import { randomBytes } from 'node:crypto';
import { isRequest, SipRequest, SipResponse, type AnySipMessage } from '../../../src/sipserver/message';
import { audioSdp, audioTarget, type MediaAddress } from './sdp';
import { answerChallenge, type Credentials } from './sip-digest';
import { openLink, type LinkOptions, type SipLink } from './sip-link';

/**
 * A deliberately small SIP phone for the lab: REGISTER and INVITE with digest, answering INVITEs
 * and keepalive OPTIONS, BYE both ways, over UDP, TCP or WebSocket. It talks only to its outbound
 * proxy (Pinhole) and offers a single PCMU stream on a port the caller chooses, which is where the
 * agent's RtpMeter listens. Not a general UA: no forking, no re-INVITEs of its own, no PRACK.
 */
export interface PhoneOptions extends LinkOptions {
  credentials: Credentials;
  domain: string;
}

export interface CallResult {
  status: number;
  callId: string;
  /** Where the answer says to send audio; null when the call failed. */
  media: MediaAddress | null;
}

export interface IncomingCall {
  callId: string;
  /** Where the offer says to send audio. */
  media: MediaAddress | null;
}

interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  cseq: number;
  /** The SDP this phone answered with, when it was the callee. */
  localSdp?: string;
  ended: boolean;
  onBye: (() => void)[];
}

interface ClientTransaction {
  resolve: (response: SipResponse) => void;
  reject: (error: Error) => void;
  retransmit: NodeJS.Timeout | null;
  deadline: NodeJS.Timeout;
  isInvite: boolean;
}

interface ServerInvite {
  branch: string;
  lastResponse: SipResponse | null;
  retransmit: NodeJS.Timeout | null;
}

const T1_MS = 500;
const T2_MS = 4000;
const TRANSACTION_TIMEOUT_MS = 32 * T1_MS;

export class Softphone {
  /** OPTIONS requests (Pinhole's keepalives) this phone answered. */
  optionsAnswered = 0;
  private link!: SipLink;
  private readonly viaHost: string;
  private readonly transactions = new Map<string, ClientTransaction>();
  private readonly dialogs = new Map<string, Dialog>();
  private readonly serverInvites = new Map<string, ServerInvite>();
  private answerers: { rtpPort: number; resolve: (call: IncomingCall) => void }[] = [];
  private registerCseq = 0;
  private readonly registerCallId = randomToken();
  private readonly errors: string[] = [];

  private constructor(private readonly options: PhoneOptions) {
    this.viaHost = options.transport === 'ws' ? `${randomToken()}.invalid` : options.localAddress;
  }

  static async start(options: PhoneOptions): Promise<Softphone> {
    const phone = new Softphone(options);
    phone.link = await openLink(
      options,
      (message) => phone.onMessage(message),
      (error) => phone.errors.push(error.message),
    );
    return phone;
  }

  get problems(): string[] {
    return [...this.errors];
  }

  private get user(): string {
    return this.options.credentials.user;
  }

  private get hostPort(): string {
    return this.options.transport === 'ws' ? this.viaHost : `${this.viaHost}:${this.link.localPort}`;
  }

  private get contact(): string {
    const transport = this.options.transport === 'udp' ? '' : `;transport=${this.options.transport}`;
    return `<sip:${this.user}@${this.hostPort}${transport}>`;
  }

  async register(expires: number): Promise<number> {
    const uri = `sip:${this.options.domain}`;
    const aor = `<sip:${this.user}@${this.options.domain}>`;
    const fromTag = randomToken();
    const build = (authorization?: string) => {
      const request = this.newRequest('REGISTER', uri, this.registerCallId, ++this.registerCseq);
      request.append('From', `${aor};tag=${fromTag}`);
      request.append('To', aor);
      request.append('Contact', this.contact);
      request.append('Expires', String(expires));
      if (authorization) request.append('Authorization', authorization);
      return request;
    };
    let response = await this.send(build());
    if (response.status === 401) {
      const authorization = answerChallenge(
        response.getAll('WWW-Authenticate'),
        this.options.credentials,
        'REGISTER',
        uri,
      );
      if (authorization) response = await this.send(build(authorization));
    }
    return response.status;
  }

  /** Calls `target` (a user at the domain) and, once answered, ACKs; answers 407 once. */
  async call(target: string, rtpPort: number): Promise<CallResult> {
    const uri = `sip:${target}@${this.options.domain}`;
    const callId = randomToken();
    const localTag = randomToken();
    const localUri = `<sip:${this.user}@${this.options.domain}>`;
    const remoteUri = `<${uri}>`;
    const body = audioSdp(this.options.localAddress, rtpPort, Date.now());
    let cseq = 1;
    const build = (proxyAuthorization?: string) => {
      const request = this.newRequest('INVITE', uri, callId, cseq);
      request.append('From', `${localUri};tag=${localTag}`);
      request.append('To', remoteUri);
      request.append('Contact', this.contact);
      request.append('Content-Type', 'application/sdp');
      if (proxyAuthorization) request.append('Proxy-Authorization', proxyAuthorization);
      request.body = Buffer.from(body);
      return request;
    };
    let response = await this.send(build());
    if (response.status === 407) {
      const credentials = answerChallenge(
        response.getAll('Proxy-Authenticate'),
        this.options.credentials,
        'INVITE',
        uri,
      );
      if (credentials) {
        cseq += 1;
        response = await this.send(build(credentials));
      }
    }
    if (response.status < 200 || response.status >= 300)
      return { status: response.status, callId, media: null };
    const dialog: Dialog = {
      callId,
      localTag,
      remoteTag: response.toTag ?? '',
      localUri,
      remoteUri,
      remoteTarget: contactUri(response.get('Contact')) ?? uri,
      cseq,
      ended: false,
      onBye: [],
    };
    this.dialogs.set(callId, dialog);
    const ack = this.inDialogRequest(dialog, 'ACK', cseq);
    this.link.send(ack);
    return { status: response.status, callId, media: audioTarget(response.body.toString()) };
  }

  /** Answers the next incoming INVITE with an SDP pointing at `rtpPort`. */
  answerNext(rtpPort: number, timeoutMs: number): Promise<IncomingCall> {
    return new Promise((resolve, reject) => {
      const answerer = {
        rtpPort,
        resolve: (call: IncomingCall) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      const timer = setTimeout(() => {
        this.answerers = this.answerers.filter((a) => a !== answerer);
        reject(new Error(`no INVITE reached ${this.user} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.answerers.push(answerer);
    });
  }

  async hangup(callId: string): Promise<number> {
    const dialog = this.dialogs.get(callId);
    if (!dialog || dialog.ended) throw new Error(`no call ${callId} in progress`);
    dialog.ended = true;
    dialog.cseq += 1;
    const response = await this.send(this.inDialogRequest(dialog, 'BYE', dialog.cseq));
    return response.status;
  }

  /** Resolves when the far end hangs up the call. */
  waitForBye(callId: string, timeoutMs: number): Promise<void> {
    const dialog = this.dialogs.get(callId);
    if (!dialog) return Promise.reject(new Error(`no call ${callId}`));
    if (dialog.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no BYE for ${callId} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      dialog.onBye.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    for (const transaction of this.transactions.values()) this.finish(transaction);
    for (const invite of this.serverInvites.values()) if (invite.retransmit) clearTimeout(invite.retransmit);
    this.link.close();
  }

  private newRequest(
    method: string,
    uri: string,
    callId: string,
    cseq: number,
    branch = newBranch(),
  ): SipRequest {
    const request = new SipRequest(method, uri);
    request.append('Via', `SIP/2.0/${this.link.viaTransport} ${this.hostPort};branch=${branch};rport`);
    request.append('Max-Forwards', '70');
    request.append('Call-ID', callId);
    request.append('CSeq', `${cseq} ${method}`);
    request.append('User-Agent', 'pinhole-lab-softphone');
    return request;
  }

  private inDialogRequest(dialog: Dialog, method: string, cseq: number): SipRequest {
    const request = this.newRequest(method, dialog.remoteTarget, dialog.callId, cseq);
    request.append('From', `${dialog.localUri};tag=${dialog.localTag}`);
    request.append('To', `${dialog.remoteUri};tag=${dialog.remoteTag}`);
    return request;
  }

  /** Sends a request and resolves with its final response (retransmitting over UDP). */
  private send(request: SipRequest): Promise<SipResponse> {
    const branch = request.topVia?.params.get('branch') ?? '';
    const isInvite = request.method === 'INVITE';
    return new Promise((resolve, reject) => {
      const transaction: ClientTransaction = {
        resolve,
        reject,
        retransmit: null,
        isInvite,
        deadline: setTimeout(() => {
          this.finish(transaction);
          this.transactions.delete(branch);
          reject(new Error(`${request.method} to ${request.uri}: no final response`));
        }, TRANSACTION_TIMEOUT_MS),
      };
      this.transactions.set(branch, transaction);
      this.link.send(request);
      if (this.link.transport === 'udp') {
        let interval = T1_MS;
        const again = () => {
          this.link.send(request);
          interval = Math.min(interval * 2, T2_MS);
          transaction.retransmit = setTimeout(again, interval);
        };
        transaction.retransmit = setTimeout(again, interval);
      }
    });
  }

  private finish(transaction: ClientTransaction): void {
    if (transaction.retransmit) clearTimeout(transaction.retransmit);
    transaction.retransmit = null;
    clearTimeout(transaction.deadline);
  }

  private onMessage(message: AnySipMessage): void {
    if (isRequest(message)) this.onRequest(message);
    else this.onResponse(message);
  }

  private onResponse(response: SipResponse): void {
    const branch = response.topVia?.params.get('branch') ?? '';
    const transaction = this.transactions.get(branch);
    if (!transaction) {
      // A retransmitted 2xx to an INVITE we already ACKed: ACK it again.
      const dialog = this.dialogs.get(response.callId);
      if (dialog && response.cseq.method === 'INVITE' && response.status >= 200 && response.status < 300)
        this.link.send(this.inDialogRequest(dialog, 'ACK', response.cseq.seq));
      return;
    }
    if (response.status < 200) {
      if (transaction.isInvite && transaction.retransmit) {
        clearTimeout(transaction.retransmit);
        transaction.retransmit = null;
      }
      return;
    }
    this.finish(transaction);
    this.transactions.delete(branch);
    if (transaction.isInvite && response.status >= 300) this.ackFailure(response);
    transaction.resolve(response);
  }

  /** The hop-by-hop ACK of a failed INVITE: same branch, the To of the response. */
  private ackFailure(response: SipResponse): void {
    const ack = new SipRequest('ACK', `sip:${this.options.domain}`);
    ack.append('Via', response.get('Via') ?? '');
    ack.append('Max-Forwards', '70');
    ack.append('From', response.get('From') ?? '');
    ack.append('To', response.get('To') ?? '');
    ack.append('Call-ID', response.callId);
    ack.append('CSeq', `${response.cseq.seq} ACK`);
    this.link.send(ack);
  }

  private onRequest(request: SipRequest): void {
    switch (request.method) {
      case 'INVITE':
        return this.onInvite(request);
      case 'ACK': {
        const invite = this.serverInvites.get(request.callId);
        if (invite?.retransmit) clearTimeout(invite.retransmit);
        if (invite) invite.retransmit = null;
        return;
      }
      case 'BYE': {
        const dialog = this.dialogs.get(request.callId);
        this.respond(request, dialog ? 200 : 481, dialog ? 'OK' : 'Call/Transaction Does Not Exist');
        if (dialog && !dialog.ended) {
          dialog.ended = true;
          for (const notify of dialog.onBye) notify();
        }
        return;
      }
      case 'OPTIONS':
        this.optionsAnswered += 1;
        return this.respond(request, 200, 'OK');
      default:
        return this.respond(request, 405, 'Method Not Allowed');
    }
  }

  private onInvite(request: SipRequest): void {
    const branch = request.topVia?.params.get('branch') ?? '';
    const known = this.serverInvites.get(request.callId);
    if (known && known.branch === branch) {
      if (known.lastResponse) this.link.send(known.lastResponse);
      return;
    }
    if (request.toTag) {
      // A re-INVITE (a session refresh): the media stays where it is.
      const dialog = this.dialogs.get(request.callId);
      if (!dialog?.localSdp) return this.respond(request, 481, 'Call/Transaction Does Not Exist');
      const ok = this.response(request, 200, 'OK');
      ok.append('Contact', this.contact);
      ok.append('Content-Type', 'application/sdp');
      ok.body = Buffer.from(dialog.localSdp);
      this.serverInvites.set(request.callId, { branch, lastResponse: ok, retransmit: null });
      return this.link.send(ok);
    }
    const answerer = this.answerers.shift();
    if (!answerer) return this.respond(request, 486, 'Busy Here');
    const localTag = randomToken();
    const dialog: Dialog = {
      callId: request.callId,
      localTag,
      remoteTag: request.fromTag ?? '',
      localUri: `<${request.uri}>`,
      remoteUri: request.get('From')?.replace(/;tag=[^;>]*$/, '') ?? '',
      remoteTarget: contactUri(request.get('Contact')) ?? '',
      cseq: 0,
      ended: false,
      onBye: [],
    };
    dialog.localSdp = audioSdp(this.options.localAddress, answerer.rtpPort, Date.now());
    this.dialogs.set(request.callId, dialog);
    const ok = this.response(request, 200, 'OK', localTag);
    ok.append('Contact', this.contact);
    ok.append('Content-Type', 'application/sdp');
    ok.body = Buffer.from(dialog.localSdp);
    const invite: ServerInvite = { branch, lastResponse: ok, retransmit: null };
    this.serverInvites.set(request.callId, invite);
    this.link.send(ok);
    if (this.link.transport === 'udp') {
      let interval = T1_MS;
      const again = () => {
        this.link.send(ok);
        interval = Math.min(interval * 2, T2_MS);
        invite.retransmit = setTimeout(again, interval);
      };
      invite.retransmit = setTimeout(again, interval);
    }
    answerer.resolve({ callId: request.callId, media: audioTarget(request.body.toString()) });
  }

  private response(request: SipRequest, status: number, reason: string, toTag?: string): SipResponse {
    const response = new SipResponse(status, reason);
    for (const via of request.getAll('Via')) response.append('Via', via);
    response.append('From', request.get('From') ?? '');
    const to = request.get('To') ?? '';
    response.append('To', toTag && !request.toTag ? `${to};tag=${toTag}` : to);
    response.append('Call-ID', request.callId);
    response.append('CSeq', request.get('CSeq') ?? '');
    return response;
  }

  private respond(request: SipRequest, status: number, reason: string): void {
    this.link.send(this.response(request, status, reason, randomToken()));
  }
}

function contactUri(contact: string | undefined): string | null {
  if (!contact) return null;
  const bracketed = /<([^>]+)>/.exec(contact);
  return bracketed ? bracketed[1] : contact.split(';')[0].trim();
}

function randomToken(): string {
  return randomBytes(6).toString('hex');
}

function newBranch(): string {
  return `z9hG4bK${randomToken()}`;
}
