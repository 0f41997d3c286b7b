import type { NatPlan } from './plan';

/**
 * iptables-restore input for the lab's boxes. Each ruleset is loaded in one call per namespace,
 * so a box never runs with half its firewall.
 */

/**
 * A home router: masquerade on the WAN, forward LAN->WAN, and let back only what conntrack
 * expects. The box's own WAN input is dropped too, otherwise an unsolicited probe would earn an
 * ICMP port-unreachable instead of silence. The explicit final DROPs exist for their counters
 * (see `unsolicitedDropCount`).
 */
export function natBoxRules(nat: NatPlan): string {
  const masquerade = `-A POSTROUTING -o ${nat.wan} -j MASQUERADE${nat.kind === 'symmetric' ? ' --random-fully' : ''}`;
  return [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -i lo -j ACCEPT',
    `-A INPUT -i ${nat.lan} -j ACCEPT`,
    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    `-A INPUT -i ${nat.wan} -j DROP`,
    `-A FORWARD -i ${nat.lan} -o ${nat.wan} -j ACCEPT`,
    `-A FORWARD -i ${nat.wan} -o ${nat.lan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A FORWARD -i ${nat.wan} -j DROP`,
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    masquerade,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * The internet router drops every packet addressed to a private or shared-space range before
 * routing, with a counter per range: media that rtpengine sends to a private SDP address shows
 * up there instead of vanishing unexplained.
 */
export function internetRules(privateRanges: readonly string[]): string {
  return [
    '*raw',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...privateRanges.map((range) => `-A PREROUTING -d ${range} -j DROP`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Sums the packet counters of `iptables-save -c` rules that `matches` accepts. */
export function sumRuleCounters(saved: string, matches: (rule: string) => boolean): number {
  let total = 0;
  for (const line of saved.split('\n')) {
    const counted = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (counted && matches(counted[2])) total += Number(counted[1]);
  }
  return total;
}

export function isUnsolicitedDrop(rule: string, wan: string): boolean {
  return rule.includes(`-i ${wan} `) && rule.endsWith('-j DROP') && !rule.includes('--ctstate');
}

export function isPrivateDestinationDrop(rule: string): boolean {
  return rule.startsWith('-A PREROUTING -d ') && rule.endsWith('-j DROP');
}
