import { digestResponse, NonceCounts, NonceSigner, sameHex, type DigestAlgorithm } from './digest';
import { HeaderSyntaxError, parseDigestCredentials } from './header-syntax';
import type { UserDirectory } from './users';

export type AuthVerdict =
  | { kind: 'ok'; user: string }
  /** 401 with these WWW-Authenticate values (one header each, preferred algorithm first). */
  | { kind: 'challenge'; challenges: string[]; reason: string }
  /** 403: credentials were given and are wrong, or the user may not register this AoR. */
  | { kind: 'forbidden'; reason: string };

export interface AuthenticatorOptions {
  realm: string;
  users: UserDirectory;
  /** Offered in this order; many phones (and sipp) only read the first challenge. */
  algorithms: DigestAlgorithm[];
  nonceLifetimeMs: number;
  secret: Buffer;
}

const ALGORITHMS = new Map<string, DigestAlgorithm>([
  ['md5', 'MD5'],
  ['sha-256', 'SHA-256'],
]);

/** Digest authentication of REGISTER (RFC 3261 §22.4, RFC 8760), stateless but for nc counts. */
export class DigestAuthenticator {
  private readonly nonces: NonceSigner;
  private readonly counts = new NonceCounts();
  private users: UserDirectory;

  constructor(private readonly options: AuthenticatorOptions) {
    this.nonces = new NonceSigner(options.secret, options.nonceLifetimeMs);
    this.users = options.users;
  }

  get realm(): string {
    return this.options.realm;
  }

  /** Swaps in a re-read users file (SIGHUP); nonces already handed out stay valid. */
  replaceUsers(users: UserDirectory): void {
    this.users = users;
  }

  /**
   * `readsLastChallenge`: the client keeps only the last of several challenges. SIP.js (most
   * browser phones) does, and gives up unless it is MD5; phones and SIPp read the first. Each
   * kind of client then finds the configured first choice where it looks.
   */
  check(
    method: string,
    authorization: string | undefined,
    aorUser: string,
    now = Date.now(),
    readsLastChallenge = false,
  ): AuthVerdict {
    const challenge = (user: string, stale: boolean, reason: string, at: number): AuthVerdict =>
      this.challenge(user, stale, reason, at, readsLastChallenge);
    if (!authorization) return challenge(aorUser, false, 'no credentials', now);
    // RFC 4475 §3.3.13: credentials in a scheme we do not speak are no failed login; ask for Digest.
    if (!/^\s*Digest(\s|$)/i.test(authorization))
      return challenge(aorUser, false, 'credentials in a scheme other than Digest', now);
    const creds = readCredentials(authorization);
    if (!creds) return { kind: 'forbidden', reason: 'unparsable Authorization' };
    const username = creds.get('username');
    const nonce = creds.get('nonce');
    const uri = creds.get('uri');
    const response = creds.get('response');
    if (!username || !nonce || !uri || !response)
      return { kind: 'forbidden', reason: 'Authorization lacks username, nonce, uri or response' };
    if (creds.get('realm') !== this.options.realm)
      return challenge(aorUser, false, `foreign realm ${creds.get('realm') ?? ''}`, now);
    const algorithm = ALGORITHMS.get((creds.get('algorithm') ?? 'MD5').toLowerCase());
    if (!algorithm || !this.options.algorithms.includes(algorithm))
      return challenge(aorUser, false, `algorithm ${creds.get('algorithm')} not offered`, now);
    const nonceState = this.nonces.check(nonce, now);
    if (nonceState === 'invalid') return challenge(aorUser, false, 'nonce not ours', now);
    if (username !== aorUser)
      return { kind: 'forbidden', reason: `user ${username} may not register ${aorUser}` };
    const secret = this.users.secrets(username)?.[algorithm];
    if (!secret) return { kind: 'forbidden', reason: `unknown user ${username} (${algorithm})` };

    const qop = creds.get('qop');
    const nc = creds.get('nc');
    const cnonce = creds.get('cnonce');
    if (qop !== undefined && (qop.toLowerCase() !== 'auth' || !nc || !/^[0-9a-fA-F]{8}$/.test(nc) || !cnonce))
      return { kind: 'forbidden', reason: 'bad qop, nc or cnonce' };
    const expected = digestResponse({
      algorithm,
      ha1: secret,
      method,
      uri,
      nonce,
      qop: qop !== undefined && nc && cnonce ? { qop, nc, cnonce } : undefined,
    });
    if (!sameHex(expected, response)) return { kind: 'forbidden', reason: 'wrong password' };
    // Right password on an old or replayed nonce: a fresh nonce, not a failure (RFC 7616 §3.3).
    if (nonceState === 'stale') return challenge(aorUser, true, 'nonce expired', now);
    if (nc && !this.counts.accept(nonce, parseInt(nc, 16)))
      return challenge(aorUser, true, 'nonce count replayed', now);
    return { kind: 'ok', user: username };
  }

  private challenge(
    user: string,
    stale: boolean,
    reason: string,
    now: number,
    readsLastChallenge: boolean,
  ): AuthVerdict {
    const secrets = this.users.secrets(user);
    // A user known only by an MD5 HA1 cannot answer a SHA-256 challenge: do not offer it.
    const offered = this.options.algorithms.filter((a) => !secrets || secrets[a] !== undefined);
    // One nonce per challenge, so nonce-count tracking never mixes answers to different algorithms.
    const algorithms = offered.length > 0 ? offered : this.options.algorithms;
    const challenges = (readsLastChallenge ? [...algorithms].reverse() : algorithms).map(
      (algorithm) =>
        `Digest realm="${this.options.realm}", nonce="${this.nonces.issue(now)}", algorithm=${algorithm}, qop="auth"` +
        (stale ? ', stale=true' : ''),
    );
    return { kind: 'challenge', challenges, reason };
  }
}

/** Digest parameters, or null when the header cannot be read (a wrong login, not a server fault). */
function readCredentials(authorization: string): Map<string, string> | null {
  try {
    return parseDigestCredentials(authorization);
  } catch (err) {
    if (err instanceof HeaderSyntaxError) return null;
    throw err;
  }
}
