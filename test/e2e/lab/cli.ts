/**
 * Brings the NAT lab up for a person to explore, or tears it down:
 *   node dist/test/e2e/lab/cli.js up     (prefix 'phlab'; replaces an earlier phlab lab)
 *   node dist/test/e2e/lab/cli.js down
 * The lab stays up after `up` exits; nothing runs inside it until you start something.
 */
import { listNamespaces } from './netns';
import { createLab, formatAddressPlan, HOME_NAMES, removeStaleLabs, type Lab } from './topology';

const PREFIX = 'phlab';
const PREFIX_PATTERN = new RegExp(`^${PREFIX}-`);

function usage(lab: Lab): string {
  const { edge, pbx, homes } = lab;
  const run = (ns: string) => `ip netns exec ${ns}`;
  return [
    `Run anything inside a namespace with 'ip netns exec NS CMD', for example:`,
    `  ${run(edge.ns)} bash    # a shell on the edge (${edge.external} / ${edge.internal})`,
    `  ${run(edge.ns)} node dist/src/cli.js --config ...    # Pinhole on the edge`,
    `  ${run(pbx.ns)} sipp -sn uas -i ${pbx.address}    # a PBX`,
    `  ${run(homes.cone.phone.ns)} sipp -sn uac -i ${homes.cone.phone.address} ${edge.external}    # a phone`,
    'Watch a NAT translate (the LAN side shows private addresses, the WAN side public ones):',
    `  ${run(homes.symmetric.natNs)} conntrack -E -p udp`,
    `  ${run(homes.symmetric.natNs)} tcpdump -ni wan0 udp    # if tcpdump is installed`,
    'Drop counters:',
    `  ${run(lab.internetNs)} iptables -t raw -L PREROUTING -vn    # packets to private destinations`,
    `  ${run(homes.cone.natNs)} iptables -L -vn    # unsolicited packets at a NAT`,
    'Shorten the NAT binding timeouts (seconds) on every NAT box:',
    `  for ns in ${HOME_NAMES.flatMap((home) => homes[home].natNamespaces).join(' ')}; do`,
    '    ip netns exec $ns sysctl -w net.netfilter.nf_conntrack_udp_timeout=10 net.netfilter.nf_conntrack_udp_timeout_stream=10',
    '  done',
    `Tear it down with: node dist/test/e2e/lab/cli.js down`,
  ].join('\n');
}

async function up(): Promise<void> {
  const lab = await createLab({ prefix: PREFIX });
  console.log(`lab '${PREFIX}' is up.\n\n${formatAddressPlan(lab.plan)}\n\n${usage(lab)}`);
}

async function down(): Promise<void> {
  const removed = await removeStaleLabs(PREFIX_PATTERN);
  console.log(removed.length > 0 ? `removed ${removed.join(' ')}` : `no '${PREFIX}' lab was up`);
}

async function main(command: string | undefined): Promise<void> {
  if (command === 'up') return up();
  if (command === 'down') return down();
  if (command === 'status') {
    const namespaces = (await listNamespaces()).filter((ns) => PREFIX_PATTERN.test(ns));
    console.log(namespaces.length > 0 ? namespaces.join('\n') : `no '${PREFIX}' lab is up`);
    return;
  }
  console.error('usage: cli.js up|down|status');
  process.exitCode = 2;
}

main(process.argv[2]).catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
