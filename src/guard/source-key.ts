import { isIP } from 'node:net';

/**
 * The key a source is limited and banned under: an IPv4 address, or the /64 of an IPv6 address,
 * since one host or customer holds a whole /64 and could otherwise dodge a ban per address.
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function sourceKey(address: string): string {
  if (address.indexOf(':') < 0) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (isIP(address) !== 6) return address;
  return `${ipv6Prefix64(address)}::/64`;
}

/** The first four groups of an IPv6 address, each without leading zeros. */
function ipv6Prefix64(address: string): string {
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  const gap = bare.indexOf('::');
  const left =
    gap < 0
      ? bare.split(':')
      : bare
          .slice(0, gap)
          .split(':')
          .filter((g) => g !== '');
  const right =
    gap < 0
      ? []
      : bare
          .slice(gap + 2)
          .split(':')
          .filter((g) => g !== '');
  const groups = [...left];
  // A trailing dotted quad fills two groups, but only the first four groups matter here.
  const rightWidth = right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  for (let i = left.length + rightWidth; i < 8; i++) groups.push('0');
  groups.push(...right);
  return groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':');
}
