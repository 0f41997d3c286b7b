import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from '../logging';
import { AddressClassifier } from '../nat/address-class';
import type { AnchorPolicy, MediaConfig } from '../nat/config';
import { legProfile, type LegKind, type LegProfile } from '../nat/media-profiles';
import { MediaSession, type NgController } from '../nat/media-session';
import { NgError } from '../nat/rtpengine-pool';
import type { DigestAuthenticator } from '../registrar/authenticator';
import { ConcurrentCallLimiter } from '../guard/call-limits';
import { sourceKey } from '../guard/source-key';
import { HeaderSyntaxError, parseTopVia, type ViaTop } from '../registrar/header-syntax';
import { natVerdict } from '../registrar/nat-verdict';
import type { LookupTarget, NatVerdict } from '../registrar';
import { Call, type CallerLeg } from './call';
import { CallerGate } from './caller-gate';
import { MediaWatch } from './media-watch';
import type { CallsConfig } from './config';
import { HeaderFilter, parseParty } from './headers';
import type { CallRecord } from './record';
import type { RoutingWatcher } from './routing';
import type { IncomingRequest, ResponseSink, SrfForCalls } from './srf-types';
import { planTargets } from './targets';

export interface B2buaOptions {
  calls: CallsConfig;
  pbx: { uri?: string; networks: readonly string[] };
  /** Absent: no rtpengine; SDP passes with unreachable addresses replaced by the SIP source. */
  media: MediaConfig | undefined;
  ng: NgController | null;
  authenticator: DigestAuthenticator | null;
  lookup(aor: string): Promise<LookupTarget[]>;
  routing: RoutingWatcher;
  localNetworks: readonly string[];
  logger: Logger;
  now?: () => number;
}

export interface CallCounters {
  active: number;
  started: number;
  answered: number;
  failed: number;
  /** Refused before any target was tried: strangers, rejects, no route, no binding. */
  refused: number;
  /** Of those refused, turned away by calls.limits (486). */
  overLimit: number;
}

/** How long stop() waits for hung-up calls to confirm their BYEs. */
const STOP_PATIENCE_MS = 3000;

/** No rtpengine configured: media sessions run with policy `never` and must never reach here. */
const NO_RTPENGINE: NgController = {
  offer: () => Promise.reject(new NgError('no rtpengine configured')),
  answer: () => Promise.reject(new NgError('no rtpengine configured')),
  delete: () => Promise.resolve(),
  query: () => Promise.reject(new NgError('no rtpengine configured')),
};

/** Why a call was refused before any target was tried, as the `call-refused` event carries it. */
export interface RefusedCall {
  status: number;
  reason: string;
}

/**
 * The calling half of Pinhole: admits INVITEs (PBX by network, phones by credentials or flow),
 * routes them by the operator's rules and runs each as a Call. Emits `call-record` per ended call
 * and `call-refused` per INVITE turned away before routing (`call-challenged` for a 407).
 */
export class B2bua extends EventEmitter {
  private readonly gate: CallerGate;
  private readonly classifier: AddressClassifier;
  private readonly passHeaders: HeaderFilter;
  private readonly live = new Map<string, Call>();
  private readonly counters = { started: 0, answered: 0, failed: 0, refused: 0, overLimit: 0 };
  private readonly limiter: ConcurrentCallLimiter;
  private readonly mediaWatch: MediaWatch;
  /** Releases the phone caller's slot in calls.limits when the call ends. */
  private readonly slots = new Map<Call, () => void>();
  private readonly now: () => number;
  private srf: SrfForCalls | null = null;
  private refusingNewCalls = false;

  constructor(private readonly options: B2buaOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.classifier = new AddressClassifier(options.localNetworks);
    this.passHeaders = new HeaderFilter(options.calls.passHeaders);
    this.limiter = new ConcurrentCallLimiter(options.calls.limits);
    this.mediaWatch = new MediaWatch({
      timeoutMs: options.calls.mediaTimeoutSeconds * 1000,
      calls: () => this.live.values(),
      logger: options.logger,
      now: this.now,
    });
    this.gate = new CallerGate({
      pbxNetworks: pbxNetworks(options.pbx),
      authenticator: phoneAuthenticator(options.calls.phoneAuth, options.authenticator),
      lookup: options.lookup,
      now: this.now,
    });
  }

  install(srf: SrfForCalls): void {
    this.srf = srf;
    this.mediaWatch.start();
    srf.use('invite', (req, res) => {
      this.onInvite(req, res).catch((err: Error) => {
        this.options.logger.error('INVITE handling failed', {
          error: err.message,
          callId: req.get('Call-ID'),
        });
        if (!res.finalResponseSent) res.send(500);
      });
    });
  }

  stats(): CallCounters {
    return { active: this.live.size, ...this.counters };
  }

  activeCalls(): Call[] {
    return [...this.live.values()];
  }

  call(id: string): Call | undefined {
    return this.live.get(id);
  }

  get draining(): boolean {
    return this.refusingNewCalls;
  }

  /**
   * Graceful shutdown: new calls get 503 with Retry-After (another edge takes them); resolves when
   * the calls still up have ended by themselves or `deadlineMs` has passed, whichever is first.
   */
  async drain(deadlineMs: number): Promise<{ ended: number; left: number }> {
    this.refusingNewCalls = true;
    const before = this.live.size;
    const deadline = this.now() + deadlineMs;
    while (this.live.size > 0 && this.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(1, deadline - this.now()))));
    return { ended: before - this.live.size, left: this.live.size };
  }

  /** Stops taking calls (503) and hangs up the ones that are up. */
  async stop(): Promise<void> {
    this.refusingNewCalls = true;
    this.mediaWatch.stop();
    // A BYE to a phone that is gone waits Timer F (32 s) for its answer; shutdown does not.
    let timer: NodeJS.Timeout | undefined;
    const hangups = Promise.allSettled([...this.live.values()].map((call) => call.hangup()));
    const patience = new Promise((resolve) => (timer = setTimeout(resolve, STOP_PATIENCE_MS)));
    await Promise.race([hangups, patience]);
    clearTimeout(timer);
  }

  private async onInvite(req: IncomingRequest, res: ResponseSink): Promise<void> {
    const callId = req.get('Call-ID') ?? '';
    const source = req.source_address;
    if (this.refusingNewCalls)
      return this.refuse(req, res, 503, 'Service Unavailable', 'shutting down', {
        'Retry-After': String(this.options.calls.retryAfterSeconds),
      });
    const from = parseParty(req.get('From'));
    const via = topVia(req.get('Via'));
    const requestUri = parseParty(req.uri);
    const domain = requestUri.host;
    const admission = await this.gate.admit({
      sourceAddress: source,
      sourcePort: Number(req.source_port),
      fromUser: from.user,
      fromDomain: from.host,
      proxyAuthorization: req.get('Proxy-Authorization'),
      readsLastChallenge: via?.transport === 'WS' || via?.transport === 'WSS',
    });
    if (!admission.admitted) {
      const headers: Record<string, string> = {};
      for (const [name, values] of Object.entries(admission.headers))
        headers[name] = values.join(`\r\n${name}: `);
      if (admission.status !== 407 || req.get('Proxy-Authorization'))
        this.options.logger.warn('INVITE refused', {
          callId,
          status: admission.status,
          reason: admission.detail,
          source: `${req.protocol}:${source}:${req.source_port}`,
          from: from.user,
        });
      return this.refuse(req, res, admission.status, admission.reason, null, headers);
    }
    if (!req.body) return this.refuse(req, res, 488, 'Not Acceptable Here', 'INVITE without an SDP offer');
    const decision = this.options.routing.current().route({
      source: { kind: admission.kind, address: source },
      user: requestUri.user,
      domain,
      fromUser: from.user,
    });
    if (decision.action === 'no-match')
      return this.refuse(req, res, 404, 'Not Found', 'no routing rule matched');
    if (decision.action === 'reject')
      return this.refuse(req, res, decision.status, decision.reason, `rule ${decision.rule}`);
    const plan = await planTargets(decision.target, decision.user, domain, {
      pbxUri: this.options.pbx.uri,
      lookup: this.options.lookup,
    });
    if (!plan.ok) {
      const extra: Record<string, string> =
        plan.status === 503 ? { 'Retry-After': String(this.options.calls.retryAfterSeconds) } : {};
      return this.refuse(req, res, plan.status, plan.reason, plan.detail, extra);
    }
    let release: (() => void) | null = null;
    if (admission.kind === 'phones') {
      const slot = this.limiter.acquire(admission.user, sourceKey(source));
      if (!slot.ok) {
        // 486, not 503: only this call is refused; a 503 would send the phone to another
        // server or stop it calling for Retry-After, and a 403 would read as a permanent ban.
        this.counters.overLimit += 1;
        return this.refuse(req, res, 486, 'Busy Here', `calls.limits.${slot.limit} reached`);
      }
      release = slot.release;
    }
    const caller = this.callerLeg(req, via, admission.kind === 'pbx' ? 'pbx' : admission.proof);
    const call = new Call(
      {
        srf: this.srf!,
        logger: this.options.logger,
        newMedia: (mediaCallId, callerProfile, callee, policy) =>
          this.newMedia(mediaCallId, callerProfile, callee, policy),
        legProfile: (kind, sipSource) => this.legProfile(kind, sipSource),
        passHeaders: this.passHeaders,
        ringTimeoutMs: this.options.calls.ringTimeoutSeconds * 1000,
        retryAfterSeconds: this.options.calls.retryAfterSeconds,
        onEnded: (ended, record) => this.onEnded(ended, record),
        now: this.now,
      },
      req,
      res,
      caller,
      {
        rule: decision.rule,
        user: decision.user,
        domain,
        media: decision.media ?? this.options.media?.anchor ?? 'never',
      },
      plan.stages,
    );
    this.live.set(call.callId, call);
    if (release) this.slots.set(call, release);
    this.counters.started += 1;
    this.options.logger.info('call', {
      callId,
      from: from.user,
      to: decision.user,
      rule: decision.rule,
      source: `${req.protocol}:${source}:${req.source_port}`,
      targets: plan.stages.flatMap((s) => s.forks.map((f) => f.uri)),
    });
    await call.run();
  }

  private refuse(
    req: IncomingRequest,
    res: ResponseSink,
    status: number,
    reason: string,
    detail: string | null,
    headers: Record<string, string> = {},
  ): void {
    // A 407 is the first half of every authenticated call, not a refusal.
    if (status === 407) this.emit('call-challenged');
    else {
      this.counters.refused += 1;
      this.emit('call-refused', { status, reason: detail ?? reason });
    }
    if (detail)
      this.options.logger.info('INVITE refused', {
        callId: req.get('Call-ID'),
        status,
        reason: detail,
        source: `${req.protocol}:${req.source_address}:${req.source_port}`,
      });
    res.send(status, reason, { headers });
  }

  private onEnded(call: Call, record: CallRecord): void {
    this.live.delete(call.callId);
    this.slots.get(call)?.();
    this.slots.delete(call);
    if (record.finalStatus === 200) this.counters.answered += 1;
    else this.counters.failed += 1;
    this.options.logger.info('call record', record);
    this.emit('call-record', record);
  }

  private callerLeg(req: IncomingRequest, via: ViaTop | null, proof: CallerLeg['proof']): CallerLeg {
    const viaTransport = via ? via.transport.toLowerCase() : req.protocol.toLowerCase();
    const port = Number(req.source_port);
    let kind: LegKind;
    if (proof === 'pbx') kind = 'pbx';
    // By the SDP, not the transport: a SIP-over-WebSocket client may offer plain RTP.
    else if (/UDP\/TLS\/RTP\/SAVPF|\r?\na=fingerprint:/.test(req.body)) kind = 'webrtc';
    else kind = 'nat-phone';
    return {
      kind,
      source: proof === 'pbx' ? 'pbx' : 'phones',
      proof,
      address: req.source_address,
      port,
      transport: viaTransport,
      nat: proof === 'pbx' ? null : this.callerNat(req, via, port, viaTransport),
    };
  }

  private callerNat(req: IncomingRequest, via: ViaTop | null, port: number, transport: string): NatVerdict {
    const contact = parseParty(req.get('Contact'));
    return natVerdict(
      {
        contactHost: contact.host,
        contactPort: contact.port,
        viaHost: via?.host ?? '',
        viaPort: via?.port ?? null,
        sourceAddress: req.source_address,
        sourcePort: port,
        stream: transport !== 'udp',
        defaultPort: transport === 'tls' || transport === 'wss' ? 5061 : 5060,
      },
      this.classifier,
    );
  }

  private legProfile(kind: LegKind, sipSource?: string): LegProfile {
    const media = this.options.media;
    const interfaces = media
      ? {
          external: media.rtpengine.interfaces.external.name,
          internal: media.rtpengine.interfaces.internal.name,
        }
      : { external: 'external', internal: 'internal' };
    const family = sipSource && isIP(sipSource) === 6 ? 'IP6' : 'IP4';
    return legProfile(kind, interfaces, {
      latching: media?.latching,
      sipSource: sipSource && isIP(sipSource) && kind !== 'pbx' ? { family, address: sipSource } : undefined,
    });
  }

  private newMedia(
    callId: string,
    caller: LegProfile,
    callee: LegProfile,
    policy: AnchorPolicy,
  ): MediaSession {
    const ng = this.options.ng;
    return new MediaSession({
      callId,
      policy: ng ? policy : 'never',
      caller,
      callee,
      ng: ng ?? NO_RTPENGINE,
      classifier: this.classifier,
    });
  }
}

function topVia(value: string | undefined): ViaTop | null {
  try {
    return value ? parseTopVia(value) : null;
  } catch (err) {
    if (err instanceof HeaderSyntaxError) return null;
    throw err;
  }
}

/** The PBX's own address counts as a PBX network even when pbx.networks is empty. */
export function pbxNetworks(pbx: B2buaOptions['pbx']): string[] {
  const networks = [...pbx.networks];
  const address = pbx.uri ? parseParty(pbx.uri).host : '';
  if (isIP(address)) networks.push(address);
  return networks;
}

function phoneAuthenticator(
  mode: CallsConfig['phoneAuth'],
  authenticator: DigestAuthenticator | null,
): DigestAuthenticator | null {
  if (mode === 'registered-flow') return null;
  if (mode === 'digest' && !authenticator)
    throw new Error(
      'calls.phoneAuth is digest but registrar.users is not set: there are no credentials to check',
    );
  return authenticator;
}
