import * as fs from 'node:fs';
import { BlockList, isIP } from 'node:net';
import * as os from 'node:os';

interface Subnet {
  address: string;
  prefix: number;
  interfaceName: string;
  contains: BlockList;
}

/** Interfaces that carry a default route, read from Linux's /proc/net/route (empty elsewhere). */
function defaultRouteInterfaces(): Set<string> {
  const names = new Set<string>();
  let table = '';
  try {
    table = fs.readFileSync('/proc/net/route', 'utf8');
  } catch {
    return names;
  }
  for (const line of table.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (destination === '00000000' && mask === '00000000') names.add(iface);
  }
  return names;
}

/** Distinct (listener, destination) pairs remembered before the memo starts over. */
const MEMO_LIMIT = 10_000;

function commonPrefixBits(a: string, b: string): number {
  if (isIP(a) !== 4 || isIP(b) !== 4) return 0;
  const value = (text: string) => text.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const diff = (value(a) ^ value(b)) >>> 0;
  return diff === 0 ? 32 : Math.clz32(diff);
}

/**
 * Which of our addresses suits a destination, as the kernel's routing would pick it: an address on
 * the destination's own subnet first, then one on an interface with a default route. An edge with
 * a public and a PBX-side interface must write the PBX-side address in Via and Contact toward the
 * PBX, and send from that socket, or the PBX answers to an address it cannot reach.
 */
export class LocalRoutes {
  private readonly subnets: Subnet[] = [];
  private readonly defaults: Set<string>;
  private readonly memo = new Map<string, number>();

  constructor(
    interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
    defaults: Set<string> = defaultRouteInterfaces(),
  ) {
    this.defaults = defaults;
    for (const [interfaceName, infos] of Object.entries(interfaces)) {
      for (const info of infos ?? []) {
        if (!info.cidr) continue;
        const prefix = Number(info.cidr.slice(info.cidr.indexOf('/') + 1));
        const contains = new BlockList();
        contains.addSubnet(info.address, prefix, info.family === 'IPv6' ? 'ipv6' : 'ipv4');
        this.subnets.push({ address: info.address, prefix, interfaceName, contains });
      }
    }
  }

  /**
   * Higher is better; 0 when nothing is known about `local`. Wildcard listeners let the kernel
   * choose. Asked for every message sent, so answers are remembered per pair: BlockList builds a
   * SocketAddress per check, which cost ~15 % of a REGISTER's handling.
   */
  score(local: string, remote: string): number {
    const key = `${local}|${remote}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const score = this.computeScore(local, remote);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(key, score);
    return score;
  }

  private computeScore(local: string, remote: string): number {
    if (local === '0.0.0.0' || local === '::') return 1;
    const family = isIP(remote) === 6 ? 'ipv6' : 'ipv4';
    const localFamily = isIP(local) === 6 ? 'ipv6' : 'ipv4';
    let best = 0;
    for (const subnet of this.subnets) {
      // Besides the interface's own address, any address of a subnet routed to the host itself
      // (all of 127/8 on lo) can be bound.
      const mine =
        subnet.address === local || (isIP(local) !== 0 && subnet.contains.check(local, localFamily));
      if (!mine) continue;
      if (isIP(remote) !== 0 && subnet.contains.check(remote, family))
        best = Math.max(best, 10000 + subnet.prefix * 100 + commonPrefixBits(local, remote));
      else if (this.defaults.has(subnet.interfaceName)) best = Math.max(best, 10);
    }
    return best;
  }
}
