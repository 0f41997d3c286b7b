import { createHash, randomBytes } from 'node:crypto';

/**
 * The client half of SIP digest (RFC 3261 §22.4, RFC 7616 qop=auth, MD5 or SHA-256), written apart
 * from Pinhole's registrar code so that a mistake there cannot cancel out against one here.
 */
export interface Credentials {
  user: string;
  password: string;
}

interface Challenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: 'MD5' | 'SHA-256';
  qop?: string;
}

const HASH_OF = { MD5: 'md5', 'SHA-256': 'sha256' } as const;

function parseChallenge(header: string): Challenge | null {
  const match = /^\s*Digest\s+(.*)$/i.exec(header);
  if (!match) return null;
  const params = new Map<string, string>();
  for (const part of match[1].matchAll(/([A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)/g)) {
    params.set(part[1].toLowerCase(), part[2].replace(/^"|"$/g, ''));
  }
  const algorithm = (params.get('algorithm') ?? 'MD5').toUpperCase();
  if (algorithm !== 'MD5' && algorithm !== 'SHA-256') return null;
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return null;
  return { realm, nonce, opaque: params.get('opaque'), algorithm, qop: params.get('qop') };
}

/**
 * The credentials header value answering the first usable challenge among `challenges`
 * (WWW-Authenticate or Proxy-Authenticate values), or null when none is MD5 or SHA-256.
 */
export function answerChallenge(
  challenges: readonly string[],
  credentials: Credentials,
  method: string,
  uri: string,
): string | null {
  const challenge = challenges.map(parseChallenge).find((c) => c !== null);
  if (!challenge) return null;
  const hash = (text: string) => createHash(HASH_OF[challenge.algorithm]).update(text).digest('hex');
  const ha1 = hash(`${credentials.user}:${challenge.realm}:${credentials.password}`);
  const ha2 = hash(`${method}:${uri}`);
  const fields = [
    `username="${credentials.user}"`,
    `realm="${challenge.realm}"`,
    `nonce="${challenge.nonce}"`,
    `uri="${uri}"`,
    `algorithm=${challenge.algorithm}`,
  ];
  const offersAuth = challenge.qop?.split(',').some((q) => q.trim() === 'auth') ?? false;
  if (offersAuth) {
    const cnonce = randomBytes(8).toString('hex');
    const nc = '00000001';
    fields.push(
      `response="${hash(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`)}"`,
      'qop=auth',
      `nc=${nc}`,
      `cnonce="${cnonce}"`,
    );
  } else {
    fields.push(`response="${hash(`${ha1}:${challenge.nonce}:${ha2}`)}"`);
  }
  if (challenge.opaque !== undefined) fields.push(`opaque="${challenge.opaque}"`);
  return `Digest ${fields.join(', ')}`;
}
