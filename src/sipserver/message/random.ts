import { randomFillSync } from 'node:crypto';

/**
 * Cryptographically random bytes for tags, branches and Call-IDs, drawn from a pool refilled 4 KB
 * at a time: one randomBytes() call per response cost ~2.5 % of a REGISTER's handling.
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function take(count: number): Buffer {
  if (offset + count > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + count);
  offset += count;
  return bytes;
}

export function randomHex(count: number): string {
  return take(count).toString('hex');
}

export function randomBase64url(count: number): string {
  return take(count).toString('base64url');
}
