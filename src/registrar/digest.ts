import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * HTTP Digest for SIP (RFC 3261 §22, RFC 7616 with RFC 8760 for SHA-256), qop=auth only.
 * Written here because it is a few hashes; the npm digest libraries target HTTP clients.
 */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

const NODE_HASH: Record<DigestAlgorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256' };

export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(NODE_HASH[algorithm]).update(text, 'utf8').digest('hex');
}

export function ha1(algorithm: DigestAlgorithm, user: string, realm: string, password: string): string {
  return digestHash(algorithm, `${user}:${realm}:${password}`);
}

export interface DigestResponseInput {
  algorithm: DigestAlgorithm;
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  /** Absent for RFC 2069 style credentials (no qop). */
  qop?: { qop: string; nc: string; cnonce: string };
}

export function digestResponse(input: DigestResponseInput): string {
  const h = (s: string) => digestHash(input.algorithm, s);
  const ha2 = h(`${input.method}:${input.uri}`);
  return input.qop
    ? h(`${input.ha1}:${input.nonce}:${input.qop.nc}:${input.qop.cnonce}:${input.qop.qop}:${ha2}`)
    : h(`${input.ha1}:${input.nonce}:${ha2}`);
}

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase());
  const y = Buffer.from(b.toLowerCase());
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Nonces that carry their own issue time and an HMAC over it, so any Pinhole sharing the secret
 * can check them and tell "expired" (stale=true) from "forged" without storing them.
 */
export class NonceSigner {
  constructor(
    private readonly secret: Buffer,
    private readonly lifetimeMs: number,
  ) {}

  issue(now = Date.now()): string {
    const body = `${now.toString(36)}.${randomBytes(6).toString('base64url')}`;
    return `${body}.${this.sign(body)}`;
  }

  check(nonce: string, now = Date.now()): 'valid' | 'stale' | 'invalid' {
    const lastDot = nonce.lastIndexOf('.');
    if (lastDot < 0) return 'invalid';
    const body = nonce.slice(0, lastDot);
    const mac = Buffer.from(nonce.slice(lastDot + 1));
    const expected = Buffer.from(this.sign(body));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'invalid';
    const issued = parseInt(body.slice(0, body.indexOf('.')), 36);
    if (!Number.isFinite(issued) || issued > now + 5000) return 'invalid';
    return now - issued > this.lifetimeMs ? 'stale' : 'valid';
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url').slice(0, 22);
  }
}

/**
 * Highest nonce-count seen per nonce (RFC 7616 §3.4.5 replay protection). Bounded: the oldest
 * nonces are forgotten first, and a forgotten nonce is simply re-challenged as stale by the caller.
 */
export class NonceCounts {
  private readonly seen = new Map<string, number>();

  constructor(private readonly capacity = 20000) {}

  /** Records nc for nonce; false when it is not higher than one already used (a replay). */
  accept(nonce: string, nc: number): boolean {
    const last = this.seen.get(nonce);
    if (last !== undefined && nc <= last) return false;
    this.seen.delete(nonce);
    this.seen.set(nonce, nc);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
