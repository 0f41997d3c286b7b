import { createHash, randomBytes } from 'node:crypto';
import { contactKey } from './binding-update';
import { parseSipUri } from './header-syntax';
import type { ParsedRegister } from './register-request';
import type { RegisterReply } from './registrar';
import type { Binding, BindingFlow } from './types';

/** A REGISTER Pinhole sends to the PBX on a phone's behalf. */
export interface UpstreamRegister {
  uri: string;
  headers: Record<string, string>;
}

export interface UpstreamResponse {
  status: number;
  reason: string;
  get(name: string): string | undefined;
}

export interface RelayOptions {
  /** The PBX registrar, e.g. `sip:10.0.0.10:5060`. */
  pbxUri: string;
  /** Domain of the AoRs toward the PBX (To/From host). */
  domain: string;
  /** Expiry asked of the PBX; the phone gets the (shorter) local policy. */
  upstreamExpires: number;
  send(request: UpstreamRegister): Promise<UpstreamResponse>;
  /** Applies the REGISTER to the local bindings (after the PBX accepted it) and builds the 200. */
  applyLocally(parsed: ParsedRegister, flow: BindingFlow): Promise<RegisterReply>;
  bindings(aor: string): Promise<Binding[]>;
  now: () => number;
}

interface Upstream {
  aor: string;
  user: string;
  /** Contact user part Pinhole registers for this phone binding. */
  token: string;
  callId: string;
  cseq: number;
  expiresAt: number;
  /** `protocol:address:port` of the phone flow that last refreshed it. */
  flowKey: string;
}

/** Re-REGISTERs are answered from cache only while the PBX binding has more than this share left. */
const REFRESH_SHARE = 1 / 3;
const CHALLENGE_HEADERS = ['WWW-Authenticate', 'Proxy-Authenticate'];

function flowKeyOf(flow: BindingFlow): string {
  return `${flow.protocol}:${flow.sourceAddress}:${flow.sourcePort}`;
}

/** Splits comma-joined challenges (drachtio-srf joins repeated headers) back into one per line. */
export function splitChallenges(value: string): string[] {
  return value
    .split(/,\s*(?=Digest\s)/i)
    .map((c) => c.trim())
    .filter(Boolean);
}

/** Contact user Pinhole registers upstream for one phone binding: `<user>-<hash of AoR and Contact>`. */
export function relayToken(user: string, aor: string, contactUri: string): string {
  const hash = createHash('sha256').update(`${aor}|${contactUri}`).digest('hex').slice(0, 12);
  return `${user}-${hash}`;
}

/**
 * Relay mode (hosted NAT traversal, like OpenSIPS mid_registrar or jambonz's sidecar): the PBX
 * authenticates and keeps a long registration whose Contact is Pinhole; the phone keeps a short
 * one with Pinhole. Re-REGISTERs from the same flow while the PBX binding is fresh are answered
 * here; lapsed bindings are de-registered upstream by `sweep`.
 */
export class RegistrationRelay {
  readonly stats = { forwarded: 0, absorbed: 0, deregistered: 0 };
  private readonly upstream = new Map<string, Upstream>();

  constructor(private readonly options: RelayOptions) {}

  async handle(
    parsed: ParsedRegister,
    flow: BindingFlow,
    authorization: string | undefined,
  ): Promise<RegisterReply> {
    if (parsed.contacts.length === 0 && !parsed.wildcard) return this.options.applyLocally(parsed, flow);
    const now = this.options.now();
    const entries = parsed.contacts.map((c) =>
      this.upstream.get(`${parsed.aor}|${relayToken(parsed.user, parsed.aor, contactKey(c.uri))}`),
    );
    const refreshOnly =
      !parsed.wildcard &&
      parsed.contacts.every((c) => (c.expires ?? parsed.expires ?? 1) > 0) &&
      entries.every(
        (e) =>
          e &&
          e.flowKey === flowKeyOf(flow) &&
          e.expiresAt - now > this.options.upstreamExpires * 1000 * REFRESH_SHARE,
      );
    if (refreshOnly) {
      this.stats.absorbed++;
      return this.options.applyLocally(parsed, flow);
    }
    const tokens = parsed.wildcard
      ? [...this.upstream.values()].filter((u) => u.aor === parsed.aor).map((u) => u.token)
      : parsed.contacts.map((c) => relayToken(parsed.user, parsed.aor, contactKey(c.uri)));
    const deregister =
      parsed.wildcard || parsed.contacts.every((c) => (c.expires ?? parsed.expires ?? 1) === 0);
    const callId = this.callIdFor(parsed.aor);
    const cseq = this.nextCseq(parsed.aor);
    const headers: Record<string, string> = {
      From: `<sip:${parsed.user}@${this.options.domain}>;tag=${randomBytes(6).toString('hex')}`,
      To: `<sip:${parsed.user}@${this.options.domain}>`,
      'Call-ID': callId,
      CSeq: `${cseq} REGISTER`,
      Contact: tokens.map((t) => `<sip:${t}@localhost>`).join(', ') || '*',
      Expires: String(deregister ? 0 : this.options.upstreamExpires),
    };
    if (authorization) headers.Authorization = authorization;
    this.stats.forwarded++;
    const response = await this.options.send({ uri: this.options.pbxUri, headers });
    if (response.status !== 200) return passBack(response);
    const granted = upstreamExpiry(response, this.options.upstreamExpires);
    for (const token of tokens) {
      const key = `${parsed.aor}|${token}`;
      if (deregister) this.upstream.delete(key);
      else
        this.upstream.set(key, {
          aor: parsed.aor,
          user: parsed.user,
          token,
          callId,
          cseq,
          expiresAt: now + granted * 1000,
          flowKey: flowKeyOf(flow),
        });
    }
    return this.options.applyLocally(parsed, flow);
  }

  /** De-REGISTERs upstream every PBX binding whose phone binding lapsed or was removed. */
  async sweep(): Promise<number> {
    const now = this.options.now();
    let sent = 0;
    for (const [key, up] of this.upstream) {
      if (up.expiresAt <= now) {
        this.upstream.delete(key);
        continue;
      }
      const live = (await this.options.bindings(up.aor)).some(
        (b) =>
          b.expiresAt > now && relayToken(up.user, up.aor, contactKey(parseSipUri(b.contact))) === up.token,
      );
      if (live) continue;
      this.upstream.delete(key);
      // A PBX that challenges this de-REGISTER keeps its binding until it expires by itself.
      await this.options.send({
        uri: this.options.pbxUri,
        headers: {
          From: `<sip:${up.user}@${this.options.domain}>;tag=${randomBytes(6).toString('hex')}`,
          To: `<sip:${up.user}@${this.options.domain}>`,
          'Call-ID': up.callId,
          CSeq: `${this.nextCseq(up.aor)} REGISTER`,
          Contact: `<sip:${up.token}@localhost>`,
          Expires: '0',
        },
      });
      this.stats.deregistered++;
      sent++;
    }
    return sent;
  }

  private readonly callIds = new Map<string, { callId: string; cseq: number }>();

  /** One upstream Call-ID per AoR, so the PBX sees ordered refreshes (RFC 3261 §10.2.4). */
  private callIdFor(aor: string): string {
    let state = this.callIds.get(aor);
    if (!state) {
      state = { callId: `pinhole-${randomBytes(10).toString('hex')}`, cseq: 0 };
      this.callIds.set(aor, state);
    }
    return state.callId;
  }

  private nextCseq(aor: string): number {
    this.callIdFor(aor);
    const state = this.callIds.get(aor)!;
    return ++state.cseq;
  }
}

function upstreamExpiry(response: UpstreamResponse, asked: number): number {
  const fromContact = /;\s*expires=(\d+)/i.exec(response.get('Contact') ?? '');
  const header = Number(response.get('Expires'));
  if (fromContact) return Number(fromContact[1]);
  return Number.isFinite(header) && header > 0 ? header : asked;
}

function passBack(response: UpstreamResponse): RegisterReply {
  const headers: Record<string, string[]> = {};
  for (const name of [...CHALLENGE_HEADERS, 'Min-Expires', 'Retry-After']) {
    const value = response.get(name);
    if (value) headers[name] = CHALLENGE_HEADERS.includes(name) ? splitChallenges(value) : [value];
  }
  return { status: response.status, reason: response.reason, headers };
}
