import { randomBase64url } from '../message/random';
import { MAGIC_COOKIE } from '../message';

/** 16 bytes = 128 bits: collisions and guessing (spoofed CANCEL/ACK) are out of reach. */
const RANDOM_BYTES = 16;

/**
 * A new Via branch (RFC 3261 §8.1.1.7): the magic cookie and 128 random bits. base64url only
 * uses characters that are valid in a SIP token, so the branch needs no escaping.
 */
export function generateBranch(): string {
  return MAGIC_COOKIE + randomBase64url(RANDOM_BYTES);
}

/** True when the branch was made by an RFC 3261 element and is unique on its own. */
export function isRfc3261Branch(branch: string | null | undefined): branch is string {
  return typeof branch === 'string' && branch.startsWith(MAGIC_COOKIE);
}
