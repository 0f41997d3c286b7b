import { isIP } from 'node:net';

const MAPPED_PREFIX = '::ffff:';

/**
 * The canonical text of an IP literal: no brackets, and an IPv4-mapped IPv6 address (what a
 * dual-stack socket reports for IPv4 peers) as plain IPv4, so one peer has one key and a
 * `received` parameter carries the address the peer knows.
 */
export function normalizeAddress(address: string): string {
  let result = address;
  if (result.startsWith('[') && result.endsWith(']')) result = result.slice(1, -1);
  if (
    result.length > MAPPED_PREFIX.length &&
    result.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX
  ) {
    const embedded = result.slice(MAPPED_PREFIX.length);
    if (isIP(embedded) === 4) return embedded;
  }
  return result;
}

/** 4, 6, or 0 when the text is not an IP literal. */
export function addressFamily(address: string): 0 | 4 | 6 {
  return isIP(address) as 0 | 4 | 6;
}

export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** `host:port` with IPv6 hosts in brackets, as URLs and Via sent-by write them. */
export function formatHostPort(address: string, port: number): string {
  return addressFamily(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
