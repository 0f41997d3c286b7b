import type Srf from 'drachtio-srf';
import { AddressClassifier } from '../nat/address-class';
import type { Logger } from '../logging';
import { formatHostPort } from '../sipserver/transport/address';
import type { DigestAuthenticator } from './authenticator';
import { applyRegister, contactKey, contactsForResponse, type ExpiryPolicy } from './binding-update';
import { parseSipUri } from './header-syntax';
import { KeepaliveRound } from './keepalive';
import { natVerdict } from './nat-verdict';
import {
  aorFor,
  BadRegister,
  parseRegister,
  type ContactSpec,
  type ParsedRegister,
} from './register-request';
import { relayToken, RegistrationRelay, type UpstreamRegister, type UpstreamResponse } from './relay';
import type { BindingStore } from './store';
import type { Binding, BindingFlow, LookupTarget } from './types';

/** What the registrar reads from a drachtio-srf request (also easy to build in tests). */
export interface IncomingRegister {
  get(name: string): string | undefined;
  source_address: string;
  source_port: number | string;
  protocol: string;
  receivedOn?: string;
}

export interface RegisterReply {
  status: number;
  reason: string;
  /** Header name → values; several values become several header lines. */
  headers: Record<string, string[]>;
}

export interface RegistrarOptions {
  /** Domain AoRs are stored under; null keeps the To host. */
  domain: string | null;
  /** null: REGISTER is accepted without authentication. */
  authenticator: DigestAuthenticator | null;
  policy: ExpiryPolicy;
  maxContacts: number;
  localNetworks: readonly string[];
  store: BindingStore;
  keepalive: { intervalMs: number; maxFailures: number };
  /** Relay mode: REGISTERs go to the PBX, which authenticates; null = Pinhole is the registrar. */
  relay?: { pbxUri: string; domain: string; upstreamExpires: number; sweepIntervalMs: number } | null;
  logger: Logger;
  now?: () => number;
}

interface SentOptions {
  on(event: 'response', listener: (res: UpstreamResponse) => void): void;
}
type RequestWithCallback = (
  uri: string,
  opts: { method: string; proxy?: string; headers?: Record<string, string> },
  cb: (err: unknown, req: SentOptions) => void,
) => void;

/** Longer than the SIP server's own 32 s non-INVITE timeout, so that one normally answers first. */
const PING_GUARD_MS = 40000;
/** Retry-After on a 503 while the binding store is unreachable: a redis restart takes seconds. */
const STORE_DOWN_RETRY_AFTER_S = 10;

/** Transport a request to this binding must use: the Via tells WebSocket apart from TCP. */
export function flowTransport(flow: BindingFlow): string {
  const via = flow.viaTransport.toLowerCase();
  return via === 'ws' || via === 'wss' ? via : flow.protocol.toLowerCase();
}

/** Next hop that reaches the phone through its NAT: the packet source, on the transport it used. */
export function proxyFor(flow: BindingFlow): string {
  const transport = flowTransport(flow);
  const suffix = transport === 'udp' ? '' : `;transport=${transport}`;
  return `sip:${formatHostPort(flow.sourceAddress, flow.sourcePort)}${suffix}`;
}

/**
 * The registrar (RFC 3261 §10.3, RFC 3581, RFC 5626 instance/reg-id): authenticates REGISTER,
 * keeps each contact with the flow it came on and a NAT verdict, persists before answering 200,
 * keeps NATed and stream bindings alive, and answers lookups for calls.
 */
export class Registrar {
  private readonly classifier: AddressClassifier;
  private readonly now: () => number;
  /** Per-AoR chain so REGISTERs for one AoR apply one after another (read, modify, write). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** AoRs this process accepted: with a shared store it keeps only its own flows alive. */
  private readonly ownAors = new Set<string>();
  private readonly keepalive: KeepaliveRound;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  /** Relay mode only. */
  readonly relay: RegistrationRelay | null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: RegistrarOptions) {
    this.classifier = new AddressClassifier(options.localNetworks);
    this.now = options.now ?? Date.now;
    this.keepalive = new KeepaliveRound({
      maxFailures: options.keepalive.maxFailures,
      bindings: () => this.keepaliveCandidates(),
      ping: (b) => this.ping(b),
      remove: (b, reason) => this.removeBinding(b, reason),
    });
    const relay = options.relay;
    this.relay = relay
      ? new RegistrationRelay({
          ...relay,
          send: (request) => this.sendUpstream(request),
          applyLocally: (parsed, flow) => this.serialized(parsed.aor, () => this.update(parsed, flow)),
          bindings: (aor) => this.options.store.get(aor),
          now: this.now,
        })
      : null;
  }

  private srf: Srf | null = null;

  /** The digest checker for this registrar's users; calls reuse it to challenge INVITEs. */
  get authenticator(): DigestAuthenticator | null {
    return this.options.authenticator;
  }

  /** Serves REGISTER on srf and starts keepalives through it. */
  install(srf: Srf): void {
    this.srf = srf;
    srf.use('register', (req, res) => {
      const incoming = req as unknown as IncomingRegister;
      this.handle(incoming).then(
        (reply) => sendReply(res, reply),
        (err: Error) => {
          const storeDown = !this.options.store.healthy();
          this.options.logger.error('REGISTER failed', {
            error: err.message,
            storeDown,
            callId: req.get('Call-ID'),
          });
          // A store outage passes: 503 tells the phone to retry later rather than give up.
          sendReply(
            res,
            storeDown
              ? {
                  status: 503,
                  reason: 'Service Unavailable - binding store down',
                  headers: { 'Retry-After': [String(STORE_DOWN_RETRY_AFTER_S)] },
                }
              : { status: 500, reason: 'Server Internal Error', headers: {} },
          );
        },
      );
    });
    if (this.options.keepalive.intervalMs > 0) {
      this.keepaliveTimer = setInterval(() => void this.keepaliveNow(), this.options.keepalive.intervalMs);
      this.keepaliveTimer.unref();
    }
    if (this.relay && this.options.relay) {
      const relay = this.relay;
      this.sweepTimer = setInterval(
        () =>
          void relay
            .sweep()
            .catch((err: Error) =>
              this.options.logger.warn('relay de-REGISTER failed', { error: err.message }),
            ),
        this.options.relay.sweepIntervalMs,
      );
      this.sweepTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.keepaliveTimer = null;
    this.sweepTimer = null;
    await Promise.allSettled([...this.queues.values()]);
    await this.options.store.close();
  }

  /**
   * Runs one keepalive round now (the timer calls this). Rounds may overlap: a dead phone's
   * OPTIONS takes 32 s to time out, and everyone else's NAT mapping must not wait for it; a
   * binding whose ping is still out is skipped by the round.
   */
  async keepaliveNow(): Promise<{ pinged: number; removed: number }> {
    if (!this.srf) return { pinged: 0, removed: 0 };
    try {
      return await this.keepalive.run();
    } catch (err) {
      this.options.logger.warn('keepalive round failed', { error: (err as Error).message });
      return { pinged: 0, removed: 0 };
    }
  }

  /** AoR (`sip:1001@example.com`, `1001@example.com`, or `1001` with a configured domain) → targets. */
  async lookup(aor: string): Promise<LookupTarget[]> {
    const key = this.normalizeAor(aor);
    if (!key) return [];
    const now = this.now();
    return (await this.options.store.get(key))
      .filter((b) => b.expiresAt > now)
      .map((b) => ({
        contact: b.contact,
        flow: b.flow,
        proxy: proxyFor(b.flow),
        transport: flowTransport(b.flow),
        natVerdict: b.nat,
        expiresAt: b.expiresAt,
      }));
  }

  /** Every binding not yet expired, for the admin API and metrics. */
  async bindings(): Promise<Binding[]> {
    const now = this.now();
    const live: Binding[] = [];
    for (const list of (await this.options.store.all()).values())
      for (const binding of list) if (binding.expiresAt > now) live.push(binding);
    return live;
  }

  /** Removes one contact of an AoR, or all of them (an operator's action); resolves with the count. */
  async unregister(aor: string, contact?: string): Promise<number> {
    const key = this.normalizeAor(aor);
    if (!key) return 0;
    return this.serialized(key, async () => {
      const current = await this.options.store.get(key);
      const rest = contact === undefined ? [] : current.filter((b) => b.contact !== contact);
      const removed = current.length - rest.length;
      if (removed === 0) return 0;
      await this.options.store.put(key, rest);
      if (rest.length === 0) this.ownAors.delete(key);
      this.options.logger.info('binding removed', { aor: key, contact: contact ?? '*', reason: 'admin' });
      return removed;
    });
  }

  storeHealthy(): boolean {
    return this.options.store.healthy();
  }

  /**
   * Relay mode: the targets behind a Contact user Pinhole registered at the PBX
   * (`1001-3f2a…`), for a call the PBX sends to that Contact.
   */
  async lookupRelayContact(contactUser: string): Promise<LookupTarget[]> {
    const dash = contactUser.lastIndexOf('-');
    if (dash <= 0) return [];
    const user = contactUser.slice(0, dash);
    const aor = this.normalizeAor(this.options.domain ? user : `${user}@${this.options.relay?.domain ?? ''}`);
    if (!aor) return [];
    return (await this.lookup(aor)).filter(
      (t) => relayToken(user, aor, contactKey(parseSipUri(t.contact))) === contactUser,
    );
  }

  async handle(req: IncomingRegister): Promise<RegisterReply> {
    let parsed: ParsedRegister;
    try {
      parsed = parseRegister(req, { domain: this.options.domain, maxContacts: this.options.maxContacts });
    } catch (err) {
      if (!(err instanceof BadRegister)) throw err;
      this.options.logger.info('REGISTER refused', { reason: err.message, source: sourceOf(req) });
      return { status: 400, reason: `Bad Request - ${err.message}`, headers: {} };
    }
    if (this.relay) return this.relay.handle(parsed, flowOf(req, parsed), req.get('Authorization'));
    const auth = this.options.authenticator?.check(
      'REGISTER',
      req.get('Authorization'),
      parsed.user,
      this.now(),
      isWebSocket(parsed.via.transport),
    );
    if (auth && auth.kind === 'challenge') {
      if (req.get('Authorization'))
        this.options.logger.info('REGISTER challenged again', {
          aor: parsed.aor,
          reason: auth.reason,
          source: sourceOf(req),
        });
      return { status: 401, reason: 'Unauthorized', headers: { 'WWW-Authenticate': auth.challenges } };
    }
    if (auth && auth.kind === 'forbidden') {
      this.options.logger.warn('REGISTER authentication failed', {
        aor: parsed.aor,
        reason: auth.reason,
        source: sourceOf(req),
        userAgent: parsed.userAgent,
      });
      return { status: 403, reason: 'Forbidden', headers: {} };
    }
    return this.serialized(parsed.aor, () => this.update(parsed, flowOf(req, parsed)));
  }

  private async update(parsed: ParsedRegister, flow: BindingFlow): Promise<RegisterReply> {
    const now = this.now();
    const current = await this.options.store.get(parsed.aor);
    const outcome = applyRegister(
      current,
      parsed,
      flow,
      (contact) => this.verdict(contact, parsed, flow),
      this.options.policy,
      now,
      parseSipUri,
    );
    if (outcome.kind === 'interval-too-brief')
      return {
        status: 423,
        reason: 'Interval Too Brief',
        headers: { 'Min-Expires': [String(outcome.minExpires)] },
      };
    if (outcome.kind === 'out-of-order')
      // RFC 3261 §10.3 step 6/7 says only that "the request fails"; 500 is what registrars answer.
      return { status: 500, reason: 'Server Internal Error - CSeq out of order', headers: {} };
    const changed = parsed.wildcard || parsed.contacts.length > 0;
    if (changed) await this.options.store.put(parsed.aor, outcome.bindings);
    if (outcome.bindings.length > 0) this.ownAors.add(parsed.aor);
    else this.ownAors.delete(parsed.aor);
    if (changed)
      // A refresh from where the phone already was is routine (every minute per NATed UDP phone).
      this.options.logger[isRefresh(current, outcome.bindings) ? 'debug' : 'info']('registration', {
        aor: parsed.aor,
        bindings: outcome.bindings.length,
        source: `${flow.protocol}:${flow.sourceAddress}:${flow.sourcePort}`,
        nat: outcome.bindings.find((b) => b.flow === flow)?.nat.reasons,
      });
    const contacts = contactsForResponse(outcome.bindings, now);
    const headers: Record<string, string[]> = { Date: [new Date(now).toUTCString()] };
    if (contacts.length > 0) headers.Contact = [contacts.join(', ')];
    return { status: 200, reason: 'OK', headers };
  }

  private verdict(contact: ContactSpec, parsed: ParsedRegister, flow: BindingFlow) {
    const defaultPort = flowTransport(flow) === 'tls' ? 5061 : 5060;
    return natVerdict(
      {
        contactHost: contact.uri.host,
        contactPort: contact.uri.port,
        viaHost: parsed.via.host,
        viaPort: parsed.via.port,
        sourceAddress: flow.sourceAddress,
        sourcePort: flow.sourcePort,
        stream: flow.protocol !== 'udp',
        defaultPort,
      },
      this.classifier,
    );
  }

  private serialized<T>(aor: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(aor) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.queues.set(aor, tail);
    void tail.then(() => {
      if (this.queues.get(aor) === tail) this.queues.delete(aor);
    });
    return next;
  }

  private normalizeAor(aor: string): string | null {
    const text = aor.trim();
    if (/^sips?:/i.test(text)) {
      try {
        const uri = parseSipUri(text);
        return uri.user ? aorFor(uri.user, this.options.domain ?? uri.host) : null;
      } catch {
        return null;
      }
    }
    const at = text.indexOf('@');
    if (at > 0) return aorFor(text.slice(0, at), this.options.domain ?? text.slice(at + 1));
    return this.options.domain && text ? aorFor(text, this.options.domain) : null;
  }

  private async keepaliveCandidates(): Promise<Binding[]> {
    const now = this.now();
    const all = await this.options.store.all();
    const result: Binding[] = [];
    for (const [aor, list] of all) {
      if (this.options.store.shared && !this.ownAors.has(aor)) continue;
      for (const b of list) if (b.expiresAt > now) result.push(b);
    }
    return result;
  }

  private ping(b: Binding): Promise<number> {
    const srf = this.srf;
    if (!srf) return Promise.reject(new Error('registrar not installed'));
    const request = (srf.request as unknown as RequestWithCallback).bind(srf);
    return new Promise((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error('no final response')), PING_GUARD_MS);
      request(b.contact, { method: 'OPTIONS', proxy: proxyFor(b.flow) }, (err, sent) => {
        if (err) {
          clearTimeout(guard);
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        sent.on('response', (res) => {
          if (res.status < 200) return;
          clearTimeout(guard);
          resolve(res.status);
        });
      });
    });
  }

  private sendUpstream(upstream: UpstreamRegister): Promise<UpstreamResponse> {
    const srf = this.srf;
    if (!srf) return Promise.reject(new Error('registrar not installed'));
    const request = (srf.request as unknown as RequestWithCallback).bind(srf);
    return new Promise((resolve, reject) => {
      request(upstream.uri, { method: 'REGISTER', headers: upstream.headers }, (err, sent) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        sent.on('response', (res) => {
          if (res.status >= 200) resolve(res);
        });
      });
    });
  }

  private removeBinding(dead: Binding, reason: string): Promise<void> {
    return this.serialized(dead.aor, async () => {
      const current = await this.options.store.get(dead.aor);
      const rest = current.filter((b) => !(b.contact === dead.contact && b.callId === dead.callId));
      if (rest.length === current.length) return;
      await this.options.store.put(dead.aor, rest);
      if (rest.length === 0) this.ownAors.delete(dead.aor);
      this.options.logger.info('binding removed', {
        aor: dead.aor,
        contact: dead.contact,
        reason,
        source: `${dead.flow.protocol}:${dead.flow.sourceAddress}:${dead.flow.sourcePort}`,
      });
    });
  }
}

function isWebSocket(transport: string): boolean {
  const lower = transport.toLowerCase();
  return lower === 'ws' || lower === 'wss';
}

function sourceOf(req: IncomingRegister): string {
  return `${req.protocol}:${req.source_address}:${req.source_port}`;
}

function flowOf(req: IncomingRegister, parsed: ParsedRegister): BindingFlow {
  const protocol = req.protocol.toLowerCase();
  const sourcePort = Number(req.source_port);
  return {
    sourceAddress: req.source_address,
    sourcePort,
    protocol,
    viaTransport: parsed.via.transport,
    receivedOn: req.receivedOn ?? null,
    connection: protocol === 'udp' ? null : `${protocol}:${req.source_address}:${sourcePort}`,
  };
}

interface ReplySink {
  send(status: number, reason: string, opts: { headers: Record<string, string> }): void;
}

/**
 * drachtio-srf keeps one value per header name, but WWW-Authenticate challenges must be separate
 * header lines (RFC 3261 §7.3.1 forbids comma-joining them); the SIP server parses the message
 * text the app sends, so the extra lines are written into the value.
 */
function sendReply(res: unknown, reply: RegisterReply): void {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(reply.headers)) headers[name] = values.join(`\r\n${name}: `);
  (res as ReplySink).send(reply.status, reply.reason, { headers });
}

/** The same contacts as before, each still reached over the same flow. */
function isRefresh(before: readonly Binding[], after: readonly Binding[]): boolean {
  if (before.length !== after.length) return false;
  return after.every((binding) => {
    const previous = before.find((b) => b.contact === binding.contact);
    return previous !== undefined && sameFlow(previous.flow, binding.flow);
  });
}

function sameFlow(a: BindingFlow, b: BindingFlow): boolean {
  return (
    a.sourceAddress === b.sourceAddress &&
    a.sourcePort === b.sourcePort &&
    a.protocol === b.protocol &&
    a.connection === b.connection
  );
}
