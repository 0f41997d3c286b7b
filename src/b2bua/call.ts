import type { Logger } from '../logging';
import type { AnchorPolicy } from '../nat/config';
import type { LegKind, LegProfile } from '../nat/media-profiles';
import type { MediaSession, Side } from '../nat/media-session';
import type { LegStats, StreamStats } from '../nat/rtpengine-pool';
import { natKind } from '../nat/nat-behaviour';
import type { NatVerdict } from '../registrar';
import { HeaderFilter, ownNameAddr, parseParty, supports100rel } from './headers';
import type { CallRecord, LegRecord } from './record';
import type {
  IncomingRequest,
  IncomingResponse,
  ResponseSink,
  SentRequest,
  SipDialog,
  SipFailure,
  SipHeaders,
  SrfForCalls,
} from './srf-types';
import type { Fork, Stage } from './targets';

export type CallState = 'setup' | 'answering' | 'established' | 'ended';

export type EndReason =
  | 'caller-bye'
  | 'callee-bye'
  | 'caller-cancel'
  | 'rejected'
  | 'no-answer'
  | 'media-failure'
  | 'hangup'
  | 'media-timeout'
  | 'error';

/** The side that placed the call, as the gate and the INVITE describe it. */
export interface CallerLeg {
  kind: LegKind;
  source: 'phones' | 'pbx';
  proof: 'pbx' | 'digest' | 'registered-flow';
  address: string;
  port: number;
  transport: string;
  nat: NatVerdict | null;
}

/** A live call as the admin API shows it. */
export interface CallSnapshot {
  id: string;
  state: CallState;
  from: string | null;
  to: string | null;
  rule: string;
  startedAt: number;
  answeredAt: number | null;
  caller: { address: string; transport: string; kind: LegKind; nat: NatVerdict | null };
  callee: {
    target: string;
    address: string | null;
    transport: string;
    kind: LegKind;
    nat: NatVerdict | null;
  } | null;
  anchored: boolean | null;
}

/** rtpengine's counters of what each leg sent, while the call is up. */
export interface CallMediaStats {
  caller: StreamStats[] | null;
  callee: StreamStats[] | null;
}

export interface CallRoute {
  rule: string;
  user: string | null;
  domain: string;
  media: AnchorPolicy;
}

export interface CallDeps {
  srf: SrfForCalls;
  logger: Logger;
  newMedia(callId: string, caller: LegProfile, callee: LegProfile, policy: AnchorPolicy): MediaSession;
  legProfile(kind: LegKind, sipSource?: string): LegProfile;
  passHeaders: HeaderFilter;
  ringTimeoutMs: number;
  retryAfterSeconds: number;
  onEnded(call: Call, record: CallRecord): void;
  now(): number;
}

/** Why a fork produced no call. */
interface ForkFailure {
  status: number;
  reason: string;
  headers: SipHeaders;
  /** Worth trying the next stage: silence, a transport error, 408 or 5xx. */
  failover: boolean;
  /** The far end answered with this status (not our own timeout or error). */
  responded: boolean;
  mediaError?: string;
}

interface Attempt {
  fork: Fork;
  media: MediaSession;
  request: SentRequest | null;
  cancelWanted: boolean;
  silenceTimer: NodeJS.Timeout | null;
  /** Serialises SDP work on this fork: an early answer must reach rtpengine before the final one. */
  chain: Promise<unknown>;
  /** The callee's SDP answer from a 183, for a 200 that does not repeat it (after PRACK). */
  earlySdp: string | null;
  rang: boolean;
  timedOut: boolean;
  /** Set while the INVITE is out: stops waiting for it (a silent target cannot be cancelled yet). */
  giveUp: (() => void) | null;
  gaveUp: boolean;
}

type StageOutcome =
  | { kind: 'answered'; attempt: Attempt; dialog: SipDialog }
  | { kind: 'failed'; failures: ForkFailure[] }
  | { kind: 'cancelled' };

const AUTH_CHALLENGE_HEADERS = ['WWW-Authenticate', 'Proxy-Authenticate'];
const CREDENTIAL_HEADERS = ['Authorization', 'Proxy-Authorization'];

/**
 * One call through the B2BUA: the caller's INVITE (A leg) is answered by one of the forks it is
 * sent to (B leg). Stages run one after another (failover); forks of a stage ring in parallel and
 * the first 2xx wins. Every SDP crosses through the fork's media session (rtpengine).
 */
export class Call {
  state: CallState = 'setup';
  readonly startedAt: number;
  answeredAt: number | null = null;
  readonly callerTag: string;
  readonly callerUser: string | null;
  private readonly callerDisplay: string | null;
  private readonly attempts = new Set<Attempt>();
  private winner: Attempt | null = null;
  private aDialog: SipDialog | null = null;
  private bDialog: SipDialog | null = null;
  private callerCancelled = false;
  private ringTimedOut = false;
  private ringTimer: NodeJS.Timeout | null = null;
  private provisionalSent = false;
  private finalStatus: number | null = null;
  private endReason: EndReason | null = null;
  private readonly log: Logger;
  private ended: Promise<void> | null = null;

  constructor(
    private readonly deps: CallDeps,
    readonly req: IncomingRequest,
    private readonly res: ResponseSink,
    readonly caller: CallerLeg,
    readonly route: CallRoute,
    private readonly stages: Stage[],
  ) {
    this.startedAt = deps.now();
    const from = parseParty(req.get('From'));
    this.callerTag = from.tag ?? '';
    this.callerUser = from.user;
    this.callerDisplay = from.display;
    this.log = deps.logger.child({ callId: this.callId });
    req.on('cancel', () => this.onCallerCancel());
  }

  get callId(): string {
    return this.req.get('Call-ID') ?? '';
  }

  /** Rings the stages in order until one answers, then bridges the two dialogs. */
  async run(): Promise<void> {
    this.ringTimer = setTimeout(() => this.onRingTimeout(), this.deps.ringTimeoutMs);
    const failures: ForkFailure[] = [];
    try {
      for (const stage of this.stages) {
        if (this.callerCancelled || this.ringTimedOut) break;
        const outcome = await this.ring(stage);
        if (outcome.kind === 'answered') {
          await this.answer(outcome.attempt, outcome.dialog);
          return;
        }
        if (outcome.kind === 'cancelled') break;
        failures.push(...outcome.failures);
        if (!outcome.failures.every((f) => f.failover)) break;
      }
      this.fail(failures);
    } catch (err) {
      this.log.error('call failed', { error: (err as Error).message });
      this.replyToCaller(500, 'Server Internal Error', {});
      await this.end('error');
    }
  }

  snapshot(): CallSnapshot {
    const fork = this.winner?.fork ?? null;
    return {
      id: this.callId,
      state: this.state,
      from: this.callerUser,
      to: this.route.user,
      rule: this.route.rule,
      startedAt: this.startedAt,
      answeredAt: this.answeredAt,
      caller: {
        address: `${this.caller.address}:${this.caller.port}`,
        transport: this.caller.transport,
        kind: this.caller.kind,
        nat: this.caller.nat,
      },
      callee: fork && {
        target: fork.uri,
        address: fork.sipSource ?? null,
        transport: fork.transport,
        kind: fork.kind,
        nat: fork.nat ?? null,
      },
      anchored: this.winner?.media.anchoring?.anchor ?? null,
    };
  }

  /** Per-leg counters from rtpengine once answered; null when not anchored or not answered yet. */
  async mediaStats(): Promise<CallMediaStats | null> {
    if (!this.winner || this.state !== 'established') return null;
    const legs = await this.winner.media.stats();
    if (!legs) return null;
    return {
      caller: legs.find((leg) => leg.tag === this.callerTag)?.streams ?? null,
      callee: legs.find((leg) => leg.tag === this.bDialog?.sip.remoteTag)?.streams ?? null,
    };
  }

  /** Ends the call from our side (admin, shutdown): BYE both legs, or CANCEL/487 while ringing. */
  async hangup(reason: 'hangup' | 'media-timeout' = 'hangup'): Promise<void> {
    if (this.state === 'ended') return;
    if (this.state === 'established') {
      await Promise.allSettled([this.aDialog?.destroy(), this.bDialog?.destroy()]);
      await this.end(reason);
      return;
    }
    this.callerCancelled = true;
    for (const attempt of this.attempts) this.cancelAttempt(attempt);
    this.replyToCaller(503, 'Service Unavailable', { 'Retry-After': String(this.deps.retryAfterSeconds) });
  }

  private ring(stage: Stage): Promise<StageOutcome> {
    const attempts = stage.forks.map((fork, index) =>
      this.newAttempt(fork, stage.forks.length > 1 ? index : null),
    );
    const offers = attempts.map((attempt) => this.offer(attempt));
    // Parallel forks ring together: no INVITE leaves before every fork has its SDP, or a quick
    // answer on one would cancel the others before they were even sent.
    const allOffered = Promise.allSettled(offers);
    return new Promise<StageOutcome>((resolve) => {
      const failures: ForkFailure[] = [];
      let pending = attempts.length;
      let settled = false;
      attempts.forEach((attempt, index) => {
        this.launch(attempt, offers[index], allOffered, stage.answerTimeoutMs).then(
          (dialog) => {
            if (settled || this.callerCancelled || this.ringTimedOut) {
              void this.abandon(attempt, dialog);
            } else {
              settled = true;
              for (const other of attempts) if (other !== attempt) this.cancelAttempt(other);
              resolve({ kind: 'answered', attempt, dialog });
            }
            pending -= 1;
          },
          (failure: ForkFailure) => {
            failures.push(failure);
            // The next stage may reuse the rtpengine call-id: release it before moving on.
            void this.release(attempt).then(() => {
              pending -= 1;
              if (pending === 0 && !settled) {
                settled = true;
                resolve(this.callerCancelled ? { kind: 'cancelled' } : { kind: 'failed', failures });
              }
            });
          },
        );
      });
    });
  }

  private newAttempt(fork: Fork, forkIndex: number | null): Attempt {
    const callee = this.deps.legProfile(fork.kind, fork.sipSource);
    const caller = this.deps.legProfile(this.caller.kind, this.caller.address);
    // Parallel forks get an rtpengine call each: one call-id cannot hold two answers to one offer
    // when the forks differ (a desk phone and a browser of the same user).
    const mediaCallId = forkIndex === null ? this.callId : `${this.callId}~${forkIndex}`;
    const attempt: Attempt = {
      fork,
      media: this.deps.newMedia(mediaCallId, caller, callee, this.route.media),
      request: null,
      cancelWanted: false,
      silenceTimer: null,
      chain: Promise.resolve(),
      earlySdp: null,
      rang: false,
      timedOut: false,
      giveUp: null,
      gaveUp: false,
    };
    this.attempts.add(attempt);
    return attempt;
  }

  /** Sends one fork's INVITE; resolves with its dialog on 2xx, rejects with a ForkFailure. */
  /** The caller's offer through this fork's media session: the SDP its INVITE carries. */
  private offer(attempt: Attempt): Promise<string> {
    return attempt.media.offer({
      sdp: this.req.body,
      from: 'caller',
      tag: this.callerTag,
      sipSource: this.caller.address,
    });
  }

  private async launch(
    attempt: Attempt,
    offer: Promise<string>,
    allOffered: Promise<unknown>,
    answerTimeoutMs: number | null,
  ): Promise<SipDialog> {
    let sdp: string;
    try {
      sdp = await offer;
    } catch (err) {
      throw mediaFailure(err);
    }
    await allOffered;
    if (this.callerCancelled || this.ringTimedOut || attempt.cancelWanted)
      throw {
        status: 487,
        reason: 'Request Terminated',
        headers: {},
        failover: false,
        responded: false,
      } satisfies ForkFailure;
    if (answerTimeoutMs !== null)
      attempt.silenceTimer = setTimeout(() => {
        this.log.info('target silent, trying the next one', { target: attempt.fork.uri });
        attempt.silenceTimer = null;
        attempt.timedOut = true;
        this.cancelAttempt(attempt);
      }, answerTimeoutMs);
    const invite = this.deps.srf.createUAC(
      attempt.fork.uri,
      { headers: this.bLegHeaders(attempt.fork), localSdp: sdp, proxy: attempt.fork.proxy },
      {
        cbRequest: (err, sent) => {
          if (err || !sent) return;
          attempt.request = sent;
          if (attempt.cancelWanted) sent.cancel();
        },
        cbProvisional: (response) => this.onProvisional(attempt, response),
      },
    );
    // An INVITE given up on may still be answered: that late dialog is hung up at once.
    invite.then(
      (dialog) => {
        if (attempt.gaveUp) void dialog.destroy().catch(() => undefined);
      },
      () => undefined,
    );
    try {
      return await new Promise<SipDialog>((resolve, reject) => {
        attempt.giveUp = () => {
          attempt.gaveUp = true;
          reject(this.forkFailure(new Error('given up') as SipFailure, attempt.timedOut));
        };
        invite.then(resolve, (err: SipFailure) => reject(this.forkFailure(err, attempt.timedOut)));
      });
    } finally {
      attempt.giveUp = null;
      this.clearSilence(attempt);
    }
  }

  private forkFailure(err: SipFailure, timedOut: boolean): ForkFailure {
    if (timedOut)
      return { status: 408, reason: 'Request Timeout', headers: {}, failover: true, responded: false };
    if (err.message === 'given up')
      return { status: 487, reason: 'Request Terminated', headers: {}, failover: false, responded: false };
    const status = typeof err.status === 'number' ? err.status : 0;
    if (status === 0) {
      this.log.warn('INVITE could not be sent', { error: err.message });
      return { status: 503, reason: 'Service Unavailable', headers: {}, failover: true, responded: false };
    }
    const headers: SipHeaders = {};
    if (this.caller.proof !== 'digest')
      for (const name of AUTH_CHALLENGE_HEADERS) {
        const value = err.res?.get(name);
        if (value) headers[name] = value;
      }
    const retryAfter = err.res?.get('Retry-After');
    if (retryAfter) headers['Retry-After'] = retryAfter;
    // 408 here is our own SIP server giving up on a silent target (Timer B).
    return {
      status,
      reason: err.reason ?? err.message,
      headers,
      failover: status === 408 || (status >= 500 && status < 600),
      responded: status !== 408,
    };
  }

  private onProvisional(attempt: Attempt, response: IncomingResponse): void {
    if (response.status === 100) return;
    this.clearSilence(attempt);
    attempt.rang = true;
    const toTag = parseParty(response.get('To')).tag;
    const body = response.body;
    attempt.chain = attempt.chain.then(async () => {
      let sdp: string | undefined;
      if (body && toTag) {
        attempt.earlySdp = body;
        sdp = await attempt.media.answer({
          sdp: body,
          from: 'callee',
          tag: toTag,
          sipSource: response.source_address,
        });
      }
      // 'answering' still relays: the answer waits for this chain, so the 183 goes out before the 200.
      if (this.res.finalResponseSent || this.state === 'established' || this.state === 'ended') return;
      const headers: SipHeaders = {};
      if (sdp) {
        headers['Content-Type'] = 'application/sdp';
        if (/\b100rel\b/i.test(response.get('Require') ?? '') && supports100rel(this.req))
          headers.Require = '100rel';
      }
      this.provisionalSent = true;
      this.res.send(response.status, response.reason, sdp ? { headers, body: sdp } : { headers });
    });
    attempt.chain.catch((err: Error) => this.log.warn('early media failed', { error: err.message }));
  }

  private async answer(attempt: Attempt, dialog: SipDialog): Promise<void> {
    this.state = 'answering';
    this.winner = attempt;
    this.bDialog = dialog;
    this.attempts.delete(attempt);
    let bGone = false;
    dialog.on('destroy', () => {
      bGone = true;
      if (this.state === 'established') {
        void this.aDialog?.destroy();
        void this.end('callee-bye');
      }
    });
    let sdp: string;
    try {
      await attempt.chain.catch(() => undefined);
      const calleeSdp = dialog.remote.sdp || attempt.earlySdp;
      if (!calleeSdp) throw new Error('the callee answered without SDP and sent none before');
      sdp = await attempt.media.answer({
        sdp: calleeSdp,
        from: 'callee',
        tag: dialog.sip.remoteTag,
        sipSource: attempt.fork.sipSource ?? attempt.fork.uri,
      });
    } catch (err) {
      this.log.error('cannot answer the caller', { error: (err as Error).message });
      void dialog.destroy();
      this.replyToCaller(503, 'Service Unavailable', { 'Retry-After': String(this.deps.retryAfterSeconds) });
      await this.end('media-failure');
      return;
    }
    let aDialog: SipDialog;
    try {
      aDialog = await this.deps.srf.createUAS(this.req, this.res, {
        localSdp: sdp,
        headers: { 'Content-Type': 'application/sdp' },
      });
    } catch (err) {
      this.log.info('caller went away before the answer', { error: (err as Error).message });
      if (!bGone) void dialog.destroy();
      await this.end(this.callerCancelled ? 'caller-cancel' : 'error');
      return;
    }
    this.aDialog = aDialog;
    this.finalStatus = 200;
    this.answeredAt = this.deps.now();
    this.state = 'established';
    this.clearRingTimer();
    aDialog.on('destroy', () => {
      if (!bGone) void this.bDialog?.destroy();
      void this.end('caller-bye');
    });
    if (bGone) {
      void aDialog.destroy();
      await this.end('callee-bye');
      return;
    }
    this.bridge(aDialog, 'caller');
    this.bridge(dialog, 'callee');
    // The call record at the end carries the same facts; at info this was a third line per call.
    this.log.debug('call answered', {
      target: attempt.fork.uri,
      setupMs: this.answeredAt - this.startedAt,
      anchored: attempt.media.anchoring?.anchor ?? false,
    });
  }

  /** In-dialog requests from one leg go to the other; SDP offers pass through the media session. */
  private bridge(dialog: SipDialog, side: Side): void {
    const other = () => (side === 'caller' ? this.bDialog : this.aDialog);
    dialog.on('modify', (req, res) => void this.reoffer(side, 'INVITE', req, res));
    dialog.on('update', (req, res) => void this.reoffer(side, 'UPDATE', req, res));
    for (const method of ['info', 'refer', 'notify', 'message'] as const)
      dialog.on(method, (req, res) => {
        const peer = other();
        if (!peer) return res.send(481);
        void this.relayInDialog(peer, method.toUpperCase(), req, res);
      });
  }

  private async reoffer(side: Side, method: 'INVITE' | 'UPDATE', req: IncomingRequest, res: ResponseSink) {
    const winner = this.winner;
    const peer = side === 'caller' ? this.bDialog : this.aDialog;
    const own = side === 'caller' ? this.aDialog : this.bDialog;
    if (!winner || !peer || !own) return res.send(481);
    if (!req.body) {
      // A session refresh without an offer: our last answer still stands.
      res.send(200, 'OK', { headers: { 'Content-Type': 'application/sdp' }, body: own.local.sdp });
      return;
    }
    const ownTag = side === 'caller' ? this.callerTag : (this.bDialog?.sip.remoteTag ?? '');
    const peerTag = side === 'caller' ? (this.bDialog?.sip.remoteTag ?? '') : this.callerTag;
    try {
      const offer = await winner.media.offer({
        sdp: req.body,
        from: side,
        tag: ownTag,
        sipSource: req.source_address,
      });
      const peerAnswer =
        method === 'INVITE' ? await peer.modify(offer) : ((await this.updatePeer(peer, offer)) ?? '');
      const answer = await winner.media.answer({
        sdp: peerAnswer,
        from: side === 'caller' ? 'callee' : 'caller',
        tag: peerTag,
        sipSource: side === 'caller' ? (winner.fork.sipSource ?? '') : this.caller.address,
      });
      res.send(200, 'OK', { headers: { 'Content-Type': 'application/sdp' }, body: answer });
    } catch (err) {
      const failure = err as SipFailure;
      const status = typeof failure.status === 'number' && failure.status >= 400 ? failure.status : 500;
      this.log.warn(`${method} from ${side} failed`, { status, error: failure.message });
      res.send(status, failure.reason);
    }
  }

  private async updatePeer(peer: SipDialog, offer: string): Promise<string | null> {
    const response = await peer.request({
      method: 'UPDATE',
      headers: { 'Content-Type': 'application/sdp' },
      body: offer,
    });
    if (response.status >= 300) throw Object.assign(new Error(response.reason), response);
    return response.body || null;
  }

  private async relayInDialog(peer: SipDialog, method: string, req: IncomingRequest, res: ResponseSink) {
    const headers = this.deps.passHeaders.pick(req);
    for (const name of [
      'Content-Type',
      'Event',
      'Subscription-State',
      'Refer-To',
      'Referred-By',
      'Info-Package',
    ]) {
      const value = req.get(name);
      if (value) headers[name] = value;
    }
    try {
      const response = await peer.request({ method, headers, body: req.body || undefined });
      const back: SipHeaders = {};
      const type = response.get('Content-Type');
      if (type && response.body) back['Content-Type'] = type;
      res.send(response.status, response.reason, { headers: back, body: response.body || undefined });
    } catch (err) {
      this.log.warn(`${method} relay failed`, { error: (err as Error).message });
      res.send(500);
    }
  }

  private bLegHeaders(fork: Fork): SipHeaders {
    const headers = this.deps.passHeaders.pick(this.req);
    headers.From = ownNameAddr(this.callerUser, this.callerDisplay);
    headers.To = fork.kind === 'pbx' ? `<${fork.uri.split(';')[0]}>` : ownNameAddr(this.route.user, null);
    headers['Content-Type'] = 'application/sdp';
    if (supports100rel(this.req)) headers.Supported = '100rel';
    if (this.caller.proof !== 'digest')
      for (const name of CREDENTIAL_HEADERS) {
        const value = this.req.get(name);
        if (value) headers[name] = value;
      }
    return headers;
  }

  private fail(failures: ForkFailure[]): void {
    if (this.callerCancelled) {
      void this.end('caller-cancel');
      return;
    }
    if (this.ringTimedOut) {
      this.replyToCaller(480, 'No Answer', {});
      void this.end('no-answer');
      return;
    }
    const best = bestFailure(failures);
    if (!best) {
      const mediaError = failures.find((f) => f.mediaError)?.mediaError;
      if (mediaError) this.log.error('no rtpengine took the call', { error: mediaError });
      this.replyToCaller(503, 'Service Unavailable', { 'Retry-After': String(this.deps.retryAfterSeconds) });
      void this.end(mediaError ? 'media-failure' : 'no-answer');
      return;
    }
    this.replyToCaller(best.status, best.reason, best.headers);
    void this.end('rejected');
  }

  private replyToCaller(status: number, reason: string, headers: SipHeaders): void {
    if (this.res.finalResponseSent) return;
    this.finalStatus = status;
    this.res.send(status, reason, { headers });
  }

  private onCallerCancel(): void {
    if (this.state !== 'setup') return;
    this.callerCancelled = true;
    this.finalStatus = 487;
    for (const attempt of this.attempts) this.cancelAttempt(attempt);
  }

  private onRingTimeout(): void {
    this.ringTimer = null;
    if (this.state !== 'setup') return;
    this.ringTimedOut = true;
    for (const attempt of this.attempts) this.cancelAttempt(attempt);
  }

  /**
   * CANCEL must wait for a provisional response (RFC 3261 §9.1); the SIP server holds it back
   * until one arrives. A target that has not rung is given up on at once instead of after Timer B.
   */
  private cancelAttempt(attempt: Attempt): void {
    attempt.cancelWanted = true;
    this.clearSilence(attempt);
    attempt.request?.cancel();
    if (!attempt.rang) attempt.giveUp?.();
  }

  private clearSilence(attempt: Attempt): void {
    if (attempt.silenceTimer) clearTimeout(attempt.silenceTimer);
    attempt.silenceTimer = null;
  }

  private clearRingTimer(): void {
    if (this.ringTimer) clearTimeout(this.ringTimer);
    this.ringTimer = null;
  }

  /** A fork that answered after another won (or after the caller left): hang it up. */
  private async abandon(attempt: Attempt, dialog: SipDialog): Promise<void> {
    await dialog.destroy().catch(() => undefined);
    await this.release(attempt);
  }

  private async release(attempt: Attempt): Promise<void> {
    this.attempts.delete(attempt);
    this.clearSilence(attempt);
    await attempt.chain.catch(() => undefined);
    await attempt.media
      .delete()
      .catch((err: Error) => this.log.warn('rtpengine delete failed', { error: err.message }));
  }

  private end(reason: EndReason): Promise<void> {
    this.ended ??= this.finish(reason);
    return this.ended;
  }

  private async finish(reason: EndReason): Promise<void> {
    this.state = 'ended';
    this.endReason = reason;
    this.clearRingTimer();
    for (const attempt of this.attempts) this.cancelAttempt(attempt);
    let stats: LegStats[] | null = null;
    if (this.winner) {
      stats = await this.winner.media.stats().catch(() => null);
      await this.release(this.winner);
    }
    this.deps.onEnded(this, this.record(stats));
  }

  private record(stats: LegStats[] | null): CallRecord {
    const endedAt = this.deps.now();
    const winner = this.winner;
    const callerStreams = stats?.find((leg) => leg.tag === this.callerTag)?.streams ?? null;
    const calleeStreams = stats?.find((leg) => leg.tag === this.bDialog?.sip.remoteTag)?.streams ?? null;
    const callee: LegRecord | null = winner
      ? {
          side: 'callee',
          callId: this.bDialog?.sip.callId ?? null,
          kind: winner.fork.kind,
          target: winner.fork.uri,
          address: winner.fork.sipSource ?? null,
          transport: winner.fork.transport,
          nat: winner.fork.nat ?? null,
          natType:
            winner.fork.kind === 'pbx'
              ? null
              : natKind(winner.fork.nat ?? null, calleeStreams, winner.fork.sipSource),
          media: calleeStreams,
        }
      : null;
    return {
      event: 'call-record',
      callId: this.callId,
      from: this.callerUser,
      to: this.route.user,
      rule: this.route.rule,
      legs: [
        {
          side: 'caller',
          callId: this.callId,
          kind: this.caller.kind,
          target: null,
          address: `${this.caller.address}:${this.caller.port}`,
          transport: this.caller.transport,
          nat: this.caller.nat,
          natType:
            this.caller.kind === 'pbx' ? null : natKind(this.caller.nat, callerStreams, this.caller.address),
          media: callerStreams,
        },
        ...(callee ? [callee] : []),
      ],
      anchored: winner?.media.anchoring?.anchor ?? null,
      anchorReason: winner?.media.anchoring?.reason ?? null,
      startedAt: new Date(this.startedAt).toISOString(),
      setupMs: this.answeredAt !== null ? this.answeredAt - this.startedAt : null,
      durationMs: this.answeredAt !== null ? endedAt - this.answeredAt : 0,
      finalStatus: this.finalStatus ?? (this.callerCancelled ? 487 : null),
      endReason: this.endReason ?? 'error',
      provisional: this.provisionalSent,
    };
  }
}

function mediaFailure(err: unknown): ForkFailure {
  const message = (err as Error).message;
  return {
    status: 503,
    reason: 'Service Unavailable',
    headers: {},
    failover: true,
    responded: false,
    mediaError: message,
  };
}

/**
 * RFC 3261 §16.7 in short: among the answers the far ends gave, a 6xx wins, then a 4xx, then a
 * 5xx. Undefined when nobody answered (Pinhole then says 503 itself).
 */
function bestFailure(failures: ForkFailure[]): ForkFailure | undefined {
  const answered = failures.filter((f) => f.responded && f.status !== 487);
  return answered.find((f) => f.status >= 600) ?? answered.find((f) => f.status < 500) ?? answered[0];
}
