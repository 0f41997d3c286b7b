import { BlockList, isIP } from 'node:net';

/** What kind of address a host is, for NAT detection (RFC 1918, 6598, 3927, 4193, 4291). */
export type AddressClass =
  | 'private'
  | 'shared'
  | 'loopback'
  | 'link-local'
  | 'ula'
  | 'unspecified'
  | 'local-network'
  | 'public'
  | 'hostname';

const RANGES: [AddressClass, string, number, 'ipv4' | 'ipv6'][] = [
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['shared', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['unspecified', '0.0.0.0', 32, 'ipv4'],
  ['loopback', '::1', 128, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['ula', 'fc00::', 7, 'ipv6'],
  ['unspecified', '::', 128, 'ipv6'],
];

const MEMO_LIMIT = 10_000;

/** Plain BlockLists, not NetworkSets: classify() memoises per host, so a second memo would not help. */
const BUILT_IN = RANGES.map(([kind, network, prefix, family]) => {
  const networks = new BlockList();
  networks.addSubnet(network, prefix, family);
  return { kind, networks };
});

/** Classes whose addresses nobody outside the phone's own network can reach. */
const UNREACHABLE = new Set<AddressClass>([
  'private',
  'shared',
  'loopback',
  'link-local',
  'ula',
  'unspecified',
  'local-network',
]);

/**
 * Classifies host addresses; operator-declared local networks (CIDR strings, IPv4 or IPv6)
 * count as unreachable from outside, like RFC 1918 space.
 */
export class AddressClassifier {
  private readonly local = new BlockList();
  /** Per host string: Contact, Via and SDP addresses repeat on every message of a phone. */
  private readonly memo = new Map<string, AddressClass>();

  constructor(localNetworks: readonly string[] = []) {
    for (const { network, prefix, family } of localNetworks.map(parseCidr))
      this.local.addSubnet(network, prefix, family);
  }

  classify(host: string): AddressClass {
    const known = this.memo.get(host);
    if (known !== undefined) return known;
    const kind = this.classifyUncached(host);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(host, kind);
    return kind;
  }

  private classifyUncached(host: string): AddressClass {
    const address = host.replace(/^\[|\]$/g, '');
    const version = isIP(address);
    if (version === 0) return 'hostname';
    const family = version === 4 ? 'ipv4' : 'ipv6';
    const mapped = family === 'ipv6' ? embeddedIpv4(address) : undefined;
    if (mapped) return this.classifyUncached(mapped);
    if (this.local.check(address, family)) return 'local-network';
    for (const { kind, networks } of BUILT_IN) if (networks.check(address, family)) return kind;
    return 'public';
  }

  /** True when the address cannot be reached from the public side (the phone is behind NAT). */
  isUnreachable(host: string): boolean {
    return UNREACHABLE.has(this.classify(host));
  }
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d or ::ffff:XXXX:XXXX). */
function embeddedIpv4(address: string): string | undefined {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return undefined;
  const high = parseInt(hex[1], 16);
  const low = parseInt(hex[2], 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

export function parseCidr(cidr: string): { network: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = cidr.indexOf('/');
  const network = slash < 0 ? cidr : cidr.slice(0, slash);
  const version = isIP(network);
  if (version === 0) throw new Error(`invalid network address in ${cidr}`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  // Number('') is 0, so an empty or signed prefix must be refused before converting.
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix > max) throw new Error(`invalid prefix length in ${cidr}`);
  return { network, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}
