import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawnTracked, stopProcess } from '../../support/processes';
import {
  deleteNamespace,
  inNamespace,
  isProcessAlive,
  listNamespaces,
  runChecked,
  runCommand,
  type CommandOptions,
  type CommandResult,
} from './netns';
import {
  HOME_NAMES,
  labPlan,
  PRIVATE_RANGES,
  type HomeName,
  type LabPlan,
  type LinkPlan,
  type NatKind,
  type NodePlan,
} from './plan';
import {
  internetRules,
  isPrivateDestinationDrop,
  isUnsolicitedDrop,
  natBoxRules,
  sumRuleCounters,
} from './rules';

export { formatAddressPlan, HOME_NAMES, type HomeName, type LabPlan, type NatKind } from './plan';
export type { CommandOptions, CommandResult } from './netns';

/**
 * A network-namespace NAT lab: phones behind cone, symmetric and double (CGNAT) NATs, an
 * "internet" that drops private destinations, an edge host with an external and an internal
 * interface, and a PBX on the internal segment. See plan.ts for the address plan.
 */
export interface LabHost {
  ns: string;
  /** Its own LAN address. */
  address: string;
}

export interface LabHome {
  phone: LabHost;
  publicAddress: string;
  nat: NatKind;
  /** The NAT box whose public address the internet sees. */
  natNs: string;
  /** Every NAT box between the phone and the internet, the phone's own router first. */
  natNamespaces: string[];
}

export interface Lab {
  /** Namespaces are named `${prefix}-<role>`. */
  prefix: string;
  plan: LabPlan;
  edge: { ns: string; external: string; internal: string };
  pbx: LabHost;
  homes: Record<HomeName, LabHome>;
  /** The internet router's namespace; a process there sends from `internetRouter` (a third party). */
  internetNs: string;
  internetRouter: string;
  /** Runs a command inside `ns` to completion. */
  exec(ns: string, argv: string[], options?: CommandOptions): Promise<CommandResult>;
  /** Starts a long-running command inside `ns`; destroy() (and stopAll()) kill it. */
  spawn(ns: string, argv: string[], options?: SpawnOptions): ChildProcess;
  /**
   * Conntrack UDP timeouts on every NAT box. A binding already in the table keeps its current
   * deadline until its next packet refreshes it with the new value.
   */
  setUdpTimeout(seconds: number, streamSeconds?: number): Promise<void>;
  /** Forgets every binding of the home's NAT boxes: the next packet out gets a fresh mapping. */
  flushConntrack(home: HomeName): Promise<void>;
  /** Packets the home's NAT boxes dropped on their WAN side (unsolicited or expired bindings). */
  unsolicitedDrops(home: HomeName): Promise<number>;
  /** Packets the internet dropped because they were addressed to a private or shared range. */
  privateDestinationDrops(): Promise<number>;
  /** Idempotent; also kills anything still running inside the namespaces. */
  destroy(): Promise<void>;
}

export const DEFAULT_UDP_TIMEOUT_S = 30;
export const DEFAULT_UDP_STREAM_TIMEOUT_S = 60;

/** Default prefixes carry the owner's pid so a later run can tell a dead run's leftovers. */
export const RUN_PREFIX_PATTERN = /^pht(?<pid>\d+)-/;

const activePrefixes = new Set<string>();

// Prefixes are validated to letters and digits, so they need no escaping.
function prefixPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}-`);
}

/**
 * Deletes lab namespaces (and kills whatever runs in them) whose name matches `pattern`. When
 * the pattern has a named group `pid`, namespaces whose owner is still running are kept, so
 * parallel runs do not tear each other down. Returns the namespaces it removed.
 */
export async function removeStaleLabs(pattern: RegExp = RUN_PREFIX_PATTERN): Promise<string[]> {
  const stale = (await listNamespaces()).filter((name) => {
    const match = pattern.exec(name);
    if (!match) return false;
    const owner = match.groups?.pid;
    return owner === undefined || !isProcessAlive(Number(owner));
  });
  await Promise.all(stale.map((ns) => deleteNamespace(ns)));
  return stale;
}

/** Whether this machine can build the lab: root, ip netns, veth, iptables and conntrack sysctls. */
export async function labSupported(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: `needs root (CAP_NET_ADMIN); running as uid ${process.getuid?.()}` };
  }
  // Named like a run's namespaces, so a probe left by a killed run is cleaned up like one.
  const probe = `pht${process.pid}-probe`;
  const check = async (
    what: string,
    argv: string[],
    options?: CommandOptions,
  ): Promise<string | undefined> => {
    const result = await runCommand(argv, options);
    return result.code === 0 ? undefined : `${what} failed: ${argv.join(' ')}: ${result.stderr.trim()}`;
  };
  await deleteNamespace(probe);
  try {
    const steps: [string, string[], CommandOptions?][] = [
      ['creating a network namespace', ['ip', 'netns', 'add', probe]],
      [
        'creating a veth pair',
        ['ip', '-n', probe, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0'],
      ],
      ['creating a bridge', ['ip', '-n', probe, 'link', 'add', 'br0', 'type', 'bridge']],
      [
        'loading iptables rules',
        inNamespace(probe, ['iptables-restore']),
        { input: natBoxRules({ kind: 'symmetric', lan: 'a0', wan: 'b0' }) + internetRules(['10.0.0.0/8']) },
      ],
      ['setting ip_forward', inNamespace(probe, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])],
      [
        'setting a per-namespace conntrack UDP timeout',
        inNamespace(probe, ['sysctl', '-q', '-w', 'net.netfilter.nf_conntrack_udp_timeout=5']),
      ],
      ['flushing conntrack', inNamespace(probe, ['conntrack', '-F'])],
    ];
    for (const [what, argv, options] of steps) {
      const failure = await check(what, argv, options);
      if (failure) return { ok: false, reason: failure };
    }
    return { ok: true };
  } finally {
    await deleteNamespace(probe);
  }
}

function sysctlArgs(settings: Record<string, string | number>): string[] {
  return ['sysctl', '-q', '-w', ...Object.entries(settings).map(([key, value]) => `${key}=${value}`)];
}

function udpTimeoutSettings(seconds: number, streamSeconds: number): Record<string, number> {
  return {
    'net.netfilter.nf_conntrack_udp_timeout': seconds,
    'net.netfilter.nf_conntrack_udp_timeout_stream': streamSeconds,
  };
}

function vethCommand(link: LinkPlan): string {
  return `link add ${link.a.ifname} netns ${link.a.ns} type veth peer name ${link.b.ifname} netns ${link.b.ns}`;
}

/** `ip -batch` lines that give one namespace its loopback, bridge, addresses and routes. */
function interfaceCommands(node: NodePlan, links: readonly LinkPlan[]): string[] {
  const commands = ['link set lo up'];
  if (node.router) {
    commands.push(`link add ${node.router.bridge} type bridge`, `link set ${node.router.bridge} up`);
    commands.push(`addr add ${node.router.cidr} dev ${node.router.bridge}`);
    // Belt and braces next to the raw-table drops: even without them nothing routes there.
    commands.push(...PRIVATE_RANGES.map((range) => `route add blackhole ${range}`));
  }
  for (const end of links.flatMap((link) => [link.a, link.b]).filter((e) => e.ns === node.ns)) {
    if (end.bridge) commands.push(`link set ${end.ifname} master ${end.bridge}`);
    if (end.cidr) commands.push(`addr add ${end.cidr} dev ${end.ifname}`);
    commands.push(`link set ${end.ifname} up`);
  }
  if (node.defaultVia) commands.push(`route add default via ${node.defaultVia}`);
  return commands;
}

async function configureNode(node: NodePlan, links: readonly LinkPlan[]): Promise<void> {
  await runChecked(['ip', '-n', node.ns, '-batch', '-'], {
    input: interfaceCommands(node, links).join('\n') + '\n',
  });
  if (node.nat)
    await runChecked(inNamespace(node.ns, ['iptables-restore']), { input: natBoxRules(node.nat) });
  if (node.router)
    await runChecked(inNamespace(node.ns, ['iptables-restore']), { input: internetRules(PRIVATE_RANGES) });
  const settings: Record<string, number> = { 'net.ipv4.ip_forward': node.forwarding ? 1 : 0 };
  // After iptables-restore, which loads nf_conntrack (and with it these sysctls) if needed.
  if (node.nat)
    Object.assign(settings, udpTimeoutSettings(DEFAULT_UDP_TIMEOUT_S, DEFAULT_UDP_STREAM_TIMEOUT_S));
  await runChecked(inNamespace(node.ns, sysctlArgs(settings)));
  if (node.router) {
    // Where br_netfilter is loaded (it is global), bridged frames would also cross the router's
    // iptables. Switch that off so the bridge is a plain switch on every machine and only routed
    // traffic meets the private-destination filter. -e: the key is absent without br_netfilter.
    await runChecked(
      inNamespace(node.ns, ['sysctl', '-q', '-e', '-w', 'net.bridge.bridge-nf-call-iptables=0']),
    );
  }
}

async function buildLab(plan: LabPlan): Promise<void> {
  await runChecked(['ip', '-batch', '-'], {
    input: plan.nodes.map((node) => `netns add ${node.ns}\n`).join(''),
  });
  await runChecked(['ip', '-batch', '-'], {
    input: plan.links.map((link) => vethCommand(link) + '\n').join(''),
  });
  await Promise.all(plan.nodes.map((node) => configureNode(node, plan.links)));
}

function defaultPrefix(): string {
  return `pht${process.pid}`;
}

/**
 * Builds the lab. Leftovers of killed runs (and of an earlier lab with the same prefix) are
 * removed first; if building fails half way, what was built is torn down before the error is
 * rethrown.
 */
export async function createLab(options: { prefix?: string } = {}): Promise<Lab> {
  const prefix = options.prefix ?? defaultPrefix();
  if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) {
    throw new Error(`lab prefix must be 2-12 lowercase letters and digits, got '${prefix}'`);
  }
  if (activePrefixes.has(prefix))
    throw new Error(`a lab with prefix '${prefix}' is already up in this process`);
  await removeStaleLabs();
  await removeStaleLabs(prefixPattern(prefix));
  const plan = labPlan(prefix);
  activePrefixes.add(prefix);
  const lab = new NamespaceLab(plan);
  try {
    await buildLab(plan);
  } catch (error) {
    await lab.destroy();
    throw error;
  }
  return lab;
}

class NamespaceLab implements Lab {
  readonly prefix: string;
  readonly edge: Lab['edge'];
  readonly pbx: LabHost;
  readonly homes: Record<HomeName, LabHome>;
  readonly internetNs: string;
  readonly internetRouter: string;
  private readonly children = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;

  constructor(readonly plan: LabPlan) {
    this.prefix = plan.prefix;
    this.edge = plan.edge;
    this.pbx = plan.pbx;
    this.internetNs = plan.internet.ns;
    this.internetRouter = plan.internet.router;
    this.homes = {} as Record<HomeName, LabHome>;
    for (const name of HOME_NAMES) {
      const home = plan.homes[name];
      this.homes[name] = {
        phone: home.phone,
        publicAddress: home.publicAddress,
        nat: home.nat,
        natNs: home.natNamespaces[home.natNamespaces.length - 1],
        natNamespaces: home.natNamespaces,
      };
    }
  }

  exec(ns: string, argv: string[], options?: CommandOptions): Promise<CommandResult> {
    return runCommand(inNamespace(ns, argv), options);
  }

  spawn(ns: string, argv: string[], options?: SpawnOptions): ChildProcess {
    // `ip netns exec` execs the command in place, so the child's pid is the program itself.
    const child = spawnTracked('ip', ['netns', 'exec', ns, ...argv], options);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  private natBoxes(): string[] {
    return this.plan.nodes.filter((node) => node.nat).map((node) => node.ns);
  }

  async setUdpTimeout(seconds: number, streamSeconds = seconds): Promise<void> {
    const args = sysctlArgs(udpTimeoutSettings(seconds, streamSeconds));
    await Promise.all(this.natBoxes().map((ns) => runChecked(inNamespace(ns, args))));
  }

  async flushConntrack(home: HomeName): Promise<void> {
    await Promise.all(
      this.homes[home].natNamespaces.map((ns) => runChecked(inNamespace(ns, ['conntrack', '-F']))),
    );
  }

  async unsolicitedDrops(home: HomeName): Promise<number> {
    const counts = await Promise.all(
      this.homes[home].natNamespaces.map(async (ns) => {
        const wan = this.plan.nodes.find((node) => node.ns === ns)?.nat?.wan ?? 'wan0';
        const saved = await runChecked(inNamespace(ns, ['iptables-save', '-c', '-t', 'filter']));
        return sumRuleCounters(saved, (rule) => isUnsolicitedDrop(rule, wan));
      }),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  async privateDestinationDrops(): Promise<number> {
    const saved = await runChecked(inNamespace(this.internetNs, ['iptables-save', '-c', '-t', 'raw']));
    return sumRuleCounters(saved, isPrivateDestinationDrop);
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.children].map((child) => stopProcess(child, 'SIGTERM', 1000)));
    await Promise.all(this.plan.nodes.map((node) => deleteNamespace(node.ns)));
    activePrefixes.delete(this.prefix);
  }
}
