import { EventEmitter } from 'node:events';
import { NetworkSet } from '../nat/network-set';
import { parseCidr } from '../nat/address-class';
import type { Admission, InboundGuard, WireLogger } from '../sipserver';
import type { SipRequest } from '../sipserver/message';
import type { Flow } from '../sipserver/transport/types';
import type { GuardConfig } from './config';
import { TokenBucket, WindowCounter } from './counters';
import { ScannerMatcher } from './scanner-match';
import { sourceKey } from './source-key';

/** Why a message was dropped or rejected. */
export type GuardReason =
  'banned' | 'scanner' | 'rate-register' | 'rate-invite' | 'rate-other' | 'rate-packets' | 'user-locked';

/** What got a source banned. */
export type BanReason = 'rate' | 'bad-input' | 'scanner' | 'auth-failures';

export interface GuardDecision {
  action: 'drop' | 'reject';
  reason: GuardReason;
  /** The source key: an IPv4 address or an IPv6 /64. */
  source: string;
  /** The request method; absent for packets dropped before parsing. */
  method?: string;
  status?: number;
}

export interface BanInfo {
  source: string;
  reason: BanReason;
  /** Epoch milliseconds. */
  since: number;
  until: number;
}

export interface UserLockInfo {
  user: string;
  until: number;
}

export interface GuardStats {
  enabled: boolean;
  /** Admission decisions on new requests, and packets dropped before parsing. */
  decisions: { accept: number; drop: number; reject: number };
  /** Drops and rejects by reason. */
  reasons: Record<GuardReason, number>;
  bansIssued: Record<BanReason, number>;
  badInput: number;
  authFailures: number;
  usersLocked: number;
  bans: BanInfo[];
  lockedUsers: UserLockInfo[];
  trackedSources: number;
  trackedUsers: number;
}

export interface GuardOptions {
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** How often expired bans and idle sources are swept; 0 leaves sweeping to `sweep()`. */
  sweepIntervalMs?: number;
}

interface SourceState {
  lastSeen: number;
  packets: TokenBucket;
  register: TokenBucket;
  invite: TokenBucket;
  other: TokenBucket;
  strikes: WindowCounter;
  garbage: WindowCounter;
  authFailures: WindowCounter;
  /** Window start of the last "limited" log line, so a flood logs once per window. */
  loggedAt: number;
  /** Users this source has logged in as: they may still try a locked user. */
  loggedIn: string[];
}

interface UserState {
  lastSeen: number;
  failures: WindowCounter;
  lockedUntil: number;
}

const ACCEPT: Admission = { action: 'accept' };
const DROP: Admission = { action: 'drop' };
const DEFAULT_SWEEP_MS = 30_000;
/** Longer user parts are cut: attackers choose them, and they are kept as map keys. */
const MAX_USER_LENGTH = 64;
const MAX_LOGGED_IN_USERS = 8;

/**
 * Flood and scanner protection for the embedded SIP server: per-source token buckets, temporary
 * bans, scanner User-Agents and brute-force limits per source and per user. Everything is a Map
 * lookup per message, and every map is bounded (least recently seen entries go first).
 * Emits `decision` (GuardDecision) for each drop or reject and `ban` (BanInfo) for each ban.
 */
export class Guard extends EventEmitter implements InboundGuard {
  private readonly trusted: NetworkSet;
  private readonly scanners: ScannerMatcher;
  private readonly sources = new Map<string, SourceState>();
  private readonly users = new Map<string, UserState>();
  private readonly banned = new Map<string, BanInfo>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout | null;
  private readonly windowMs: number;
  private readonly authWindowMs: number;
  private lockedCount = 0;
  private readonly counts = {
    decisions: { accept: 0, drop: 0, reject: 0 },
    reasons: {
      banned: 0,
      scanner: 0,
      'rate-register': 0,
      'rate-invite': 0,
      'rate-other': 0,
      'rate-packets': 0,
      'user-locked': 0,
    } as Record<GuardReason, number>,
    bansIssued: { rate: 0, 'bad-input': 0, scanner: 0, 'auth-failures': 0 } as Record<BanReason, number>,
    badInput: 0,
    authFailures: 0,
    usersLocked: 0,
  };

  constructor(
    private readonly config: GuardConfig,
    private readonly logger: WireLogger,
    options: GuardOptions = {},
  ) {
    super();
    this.trusted = new NetworkSet(config.trusted.map(parseCidr));
    this.scanners = new ScannerMatcher(config.scanners);
    this.now = options.now ?? Date.now;
    this.windowMs = config.ban.windowSeconds * 1000;
    this.authWindowMs = config.authFailures.windowSeconds * 1000;
    const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_MS;
    this.sweeper = config.enabled && interval > 0 ? setInterval(() => this.sweep(), interval) : null;
    this.sweeper?.unref();
  }

  sourceAllowed(flow: Flow): boolean {
    if (!this.config.enabled || this.isTrusted(flow.remoteAddress)) return true;
    const key = sourceKey(flow.remoteAddress);
    const now = this.now();
    if (this.isBanned(key, now)) {
      this.decide('drop', 'banned', key);
      return false;
    }
    const state = this.touch(key, now);
    const { perSecond, burst } = this.config.rates.packets;
    if (state.packets.take(now, perSecond, burst)) return true;
    this.overRate(key, state, now, 'rate-packets');
    this.decide('drop', 'rate-packets', key);
    return false;
  }

  admit(request: SipRequest, flow: Flow): Admission {
    if (!this.config.enabled || this.isTrusted(flow.remoteAddress)) return this.accept();
    const key = sourceKey(flow.remoteAddress);
    const now = this.now();
    const scanner = this.scanners.match(request);
    if (scanner !== null) return this.onScanner(key, now, scanner, request.method);
    const state = this.touch(key, now);
    const method = request.method;
    const [bucket, rate, reason] =
      method === 'REGISTER'
        ? [state.register, this.config.rates.register, 'rate-register' as const]
        : method === 'INVITE'
          ? [state.invite, this.config.rates.invite, 'rate-invite' as const]
          : [state.other, this.config.rates.other, 'rate-other' as const];
    if (!bucket.take(now, rate.perSecond, rate.burst)) {
      const bannedNow = this.overRate(key, state, now, reason);
      // A real client over its rate backs off on 503 with Retry-After (RFC 3261 §21.5.4);
      // for OPTIONS and the like silence costs less than answering a flood.
      if (bannedNow || reason === 'rate-other') {
        this.decide('drop', reason, key, method);
        return DROP;
      }
      this.decide('reject', reason, key, method, 503);
      return {
        action: 'reject',
        status: 503,
        reason: 'Service Unavailable',
        headers: { 'Retry-After': String(this.config.retryAfterSeconds) },
      };
    }
    if (this.lockedCount > 0 && (method === 'REGISTER' || method === 'INVITE')) {
      const user = loginUser(request);
      if (user !== null && this.isLocked(user, now) && !state.loggedIn.includes(user)) {
        this.decide('drop', 'user-locked', key, method);
        return DROP;
      }
    }
    return this.accept();
  }

  badInput(flow: Flow): void {
    if (!this.config.enabled || this.isTrusted(flow.remoteAddress)) return;
    this.counts.badInput++;
    const key = sourceKey(flow.remoteAddress);
    const now = this.now();
    const state = this.touch(key, now);
    const limit = this.config.ban.badInput;
    if (limit > 0 && state.garbage.add(now, this.windowMs) >= limit) this.ban(key, now, 'bad-input');
  }

  answered(request: SipRequest, status: number, flow: Flow): void {
    const method = request.method;
    if (!this.config.enabled || (method !== 'REGISTER' && method !== 'INVITE')) return;
    if (status === 401 || status === 407 || this.isTrusted(flow.remoteAddress)) return;
    const user = loginUser(request);
    const key = sourceKey(flow.remoteAddress);
    const now = this.now();
    const state = this.touch(key, now);
    if (status === 403) {
      this.onAuthFailure(key, state, user, now);
      return;
    }
    // Any other final answer means the credentials (or the registered flow) were accepted,
    // except a failed REGISTER, which proves nothing.
    const loggedIn = method === 'INVITE' || (status >= 200 && status < 300);
    if (loggedIn && user !== null && !state.loggedIn.includes(user)) {
      if (state.loggedIn.length >= MAX_LOGGED_IN_USERS) state.loggedIn.shift();
      state.loggedIn.push(user);
    }
  }

  /** Current bans, soonest expiry first. */
  bans(): BanInfo[] {
    const now = this.now();
    return [...this.banned.values()].filter((b) => b.until > now).sort((a, b) => a.until - b.until);
  }

  /** Lifts a ban on an address (or its IPv6 /64); true if there was one. */
  unban(address: string): boolean {
    const key = sourceKey(address);
    const lifted = this.banned.delete(key);
    if (lifted) this.logger.info('guard: ban lifted', { source: key });
    return lifted;
  }

  stats(): GuardStats {
    const now = this.now();
    const lockedUsers: UserLockInfo[] = [];
    for (const [user, state] of this.users)
      if (state.lockedUntil > now) lockedUsers.push({ user, until: state.lockedUntil });
    return {
      enabled: this.config.enabled,
      decisions: { ...this.counts.decisions },
      reasons: { ...this.counts.reasons },
      bansIssued: { ...this.counts.bansIssued },
      badInput: this.counts.badInput,
      authFailures: this.counts.authFailures,
      usersLocked: this.counts.usersLocked,
      bans: this.bans(),
      lockedUsers,
      trackedSources: this.sources.size,
      trackedUsers: this.users.size,
    };
  }

  /** Forgets expired bans and locks, and sources and users idle past their windows. */
  sweep(): void {
    const now = this.now();
    for (const [key, ban] of this.banned) if (ban.until <= now) this.expireBan(key, ban);
    const idleMs = this.config.idleSeconds * 1000;
    // Both maps are kept in least-recently-seen order, so the idle ones are at the front.
    for (const [key, state] of this.sources) {
      if (now - state.lastSeen < idleMs) break;
      this.sources.delete(key);
    }
    this.lockedCount = 0;
    for (const [user, state] of this.users) {
      if (state.lockedUntil > now) this.lockedCount++;
      else if (state.failures.lapsed(now, this.authWindowMs)) this.users.delete(user);
    }
  }

  /** Stops the sweep timer. */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  private isTrusted(address: string): boolean {
    return this.trusted.has(address);
  }

  private isBanned(key: string, now: number): boolean {
    const ban = this.banned.get(key);
    if (!ban) return false;
    if (ban.until > now) return true;
    this.expireBan(key, ban);
    return false;
  }

  private expireBan(key: string, ban: BanInfo): void {
    this.banned.delete(key);
    this.logger.info('guard: ban expired', { source: key, reason: ban.reason });
  }

  private isLocked(user: string, now: number): boolean {
    const state = this.users.get(user);
    return state !== undefined && state.lockedUntil > now;
  }

  /** The source's state, created if new and moved to the most-recently-seen end. */
  private touch(key: string, now: number): SourceState {
    let state = this.sources.get(key);
    if (state) {
      this.sources.delete(key);
    } else {
      if (this.sources.size >= this.config.maxSources) this.sources.delete(firstKey(this.sources));
      state = newSourceState(now, this.config.rates);
    }
    state.lastSeen = now;
    this.sources.set(key, state);
    return state;
  }

  private accept(): Admission {
    this.counts.decisions.accept++;
    return ACCEPT;
  }

  private decide(
    action: 'drop' | 'reject',
    reason: GuardReason,
    source: string,
    method?: string,
    status?: number,
  ): void {
    this.counts.decisions[action]++;
    this.counts.reasons[reason]++;
    if (this.listenerCount('decision') > 0) {
      const decision: GuardDecision = { action, reason, source };
      if (method !== undefined) decision.method = method;
      if (status !== undefined) decision.status = status;
      this.emit('decision', decision);
    }
  }

  private onScanner(key: string, now: number, scanner: string, method: string): Admission {
    this.decide('drop', 'scanner', key, method);
    if (this.config.ban.scanners) this.ban(key, now, 'scanner', { scanner });
    else if (this.shouldLog(this.touch(key, now), now))
      this.logger.warn('guard: scanner dropped', { source: key, scanner });
    return DROP;
  }

  /** Counts a request or packet over its rate as a strike; true when that strike banned the source. */
  private overRate(key: string, state: SourceState, now: number, reason: GuardReason): boolean {
    const limit = this.config.ban.rateStrikes;
    if (limit > 0 && state.strikes.add(now, this.windowMs) >= limit) {
      this.ban(key, now, 'rate', { limit: reason });
      return true;
    }
    if (this.shouldLog(state, now))
      this.logger.warn('guard: source over rate', { source: key, limit: reason });
    return false;
  }

  private onAuthFailure(key: string, state: SourceState, user: string | null, now: number): void {
    this.counts.authFailures++;
    const { perSource, perUser } = this.config.authFailures;
    if (perSource > 0 && state.authFailures.add(now, this.authWindowMs) >= perSource)
      this.ban(key, now, 'auth-failures', { user });
    if (user === null || perUser === 0) return;
    const userState = this.touchUser(user, now);
    if (userState.lockedUntil > now || userState.failures.add(now, this.authWindowMs) < perUser) return;
    userState.lockedUntil = now + this.config.ban.seconds * 1000;
    this.lockedCount++;
    this.counts.usersLocked++;
    this.logger.warn('guard: user locked after failed logins', {
      user,
      failures: perUser,
      seconds: this.config.ban.seconds,
    });
  }

  private touchUser(user: string, now: number): UserState {
    let state = this.users.get(user);
    if (state) {
      this.users.delete(user);
    } else {
      if (this.users.size >= this.config.maxUsers) this.users.delete(firstKey(this.users));
      state = { lastSeen: now, failures: new WindowCounter(), lockedUntil: 0 };
    }
    state.lastSeen = now;
    this.users.set(user, state);
    return state;
  }

  private ban(key: string, now: number, reason: BanReason, detail: Record<string, unknown> = {}): void {
    if (this.banned.size >= this.config.maxBans) this.banned.delete(firstKey(this.banned));
    const ban: BanInfo = { source: key, reason, since: now, until: now + this.config.ban.seconds * 1000 };
    this.banned.set(key, ban);
    // Its counters start afresh when the ban ends.
    this.sources.delete(key);
    this.counts.bansIssued[reason]++;
    this.logger.warn('guard: source banned', {
      source: key,
      reason,
      seconds: this.config.ban.seconds,
      ...detail,
    });
    this.emit('ban', ban);
  }

  private shouldLog(state: SourceState, now: number): boolean {
    if (now - state.loggedAt < this.windowMs) return false;
    state.loggedAt = now;
    return true;
  }
}

function newSourceState(now: number, rates: GuardConfig['rates']): SourceState {
  return {
    lastSeen: now,
    packets: new TokenBucket(rates.packets.burst, now),
    register: new TokenBucket(rates.register.burst, now),
    invite: new TokenBucket(rates.invite.burst, now),
    other: new TokenBucket(rates.other.burst, now),
    strikes: new WindowCounter(),
    garbage: new WindowCounter(),
    authFailures: new WindowCounter(),
    loggedAt: Number.NEGATIVE_INFINITY,
    loggedIn: [],
  };
}

/** The user a request logs in as: REGISTER's To user (the AoR), INVITE's From user (the caller). */
function loginUser(request: SipRequest): string | null {
  try {
    const user = (request.method === 'REGISTER' ? request.to : request.from).uri.user;
    return user === null || user === '' ? null : user.slice(0, MAX_USER_LENGTH);
  } catch {
    return null;
  }
}

function firstKey<K>(map: Map<K, unknown>): K {
  return map.keys().next().value as K;
}
