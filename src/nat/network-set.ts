import { BlockList, isIP } from 'node:net';

/** Answers remembered per address string; the same few addresses (phones, the PBX) come back all the time. */
const MEMO_LIMIT = 10_000;

export interface Network {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * A set of IP networks asked "does it hold this address?" for every SIP message. node's BlockList
 * builds a SocketAddress on each check (7 % of the bench's call path), so answers are memoised
 * per address string; the memo starts over when it is full, which keeps memory bounded under a
 * spray of source addresses. IPv4-mapped IPv6 addresses match IPv4 networks (BlockList does that).
 */
export class NetworkSet {
  private readonly list = new BlockList();
  private readonly memo = new Map<string, boolean>();
  private empty = true;

  constructor(networks: readonly Network[] = []) {
    for (const network of networks) this.add(network);
  }

  add({ network, prefix, family }: Network): void {
    this.list.addSubnet(network, prefix, family);
    this.memo.clear();
    this.empty = false;
  }

  /** `address` may carry IPv6 brackets; a host name or garbage is in no network. */
  has(address: string): boolean {
    if (this.empty) return false;
    const known = this.memo.get(address);
    if (known !== undefined) return known;
    const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
    const version = isIP(bare);
    const found = version !== 0 && this.list.check(bare, version === 4 ? 'ipv4' : 'ipv6');
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(address, found);
    return found;
  }
}
