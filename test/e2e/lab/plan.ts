/**
 * The lab's address plan as data: which namespaces exist, how they are wired and what each one
 * does. `topology.ts` turns this into namespaces, veths, routes and firewall rules.
 *
 * Public addresses come from TEST-NET-3 (RFC 5737) so nothing here can collide with a real
 * network; the internal segment, the home LANs and the CGNAT segment use the private and shared
 * ranges they would use in reality, and both 'cone' and 'twin' phones are 192.168.1.10.
 */
export type HomeName = 'cone' | 'symmetric' | 'twin' | 'cgnat';
export type NatKind = 'cone' | 'symmetric';

export const HOME_NAMES: readonly HomeName[] = ['cone', 'symmetric', 'twin', 'cgnat'];

/** Destinations the "internet" refuses to route (RFC 1918 and RFC 6598 shared space). */
export const PRIVATE_RANGES: readonly string[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
];

export const INTERNET_SUBNET = '203.0.113.0/24';

/** One end of a veth: the namespace, the interface name inside it and its address. */
export interface LinkEnd {
  ns: string;
  ifname: string;
  /** Address with prefix length, e.g. '192.168.1.10/24'; absent for a bridge port. */
  cidr?: string;
  /** Bridge the interface is enslaved to (the internet's switch). */
  bridge?: string;
}

export interface LinkPlan {
  a: LinkEnd;
  b: LinkEnd;
}

export type NodeRole = 'internet' | 'edge' | 'pbx' | 'phone' | 'nat';

/** A NAT box masquerades everything leaving `wan` and lets back only what conntrack expects. */
export interface NatPlan {
  kind: NatKind;
  lan: string;
  wan: string;
}

export interface NodePlan {
  ns: string;
  role: NodeRole;
  /** Human-readable role, printed in the address plan. */
  label: string;
  forwarding: boolean;
  defaultVia?: string;
  nat?: NatPlan;
  /** The internet router: a bridge with the router's address that drops private destinations. */
  router?: { bridge: string; cidr: string };
}

export interface HomePlan {
  name: HomeName;
  /** The NAT behaviour the phone sees, end to end. */
  nat: NatKind;
  phone: { ns: string; address: string };
  /** Every NAT box between the phone and the internet, the phone's own router first. */
  natNamespaces: string[];
  /** Where the phone's traffic appears on the internet. */
  publicAddress: string;
}

export interface LabPlan {
  prefix: string;
  nodes: NodePlan[];
  links: LinkPlan[];
  internet: { ns: string; router: string };
  edge: { ns: string; external: string; internal: string };
  pbx: { ns: string; address: string };
  homes: Record<HomeName, HomePlan>;
}

const ROUTER = '203.0.113.254';
const BRIDGE = 'br0';

interface SingleNatHome {
  name: HomeName;
  /** Short tag used in namespace and bridge-port names. */
  tag: string;
  kind: NatKind;
  lan: string;
  phone: string;
  publicAddress: string;
}

const SINGLE_NAT_HOMES: readonly SingleNatHome[] = [
  {
    name: 'cone',
    tag: 'cone',
    kind: 'cone',
    lan: '192.168.1',
    phone: '192.168.1.10',
    publicAddress: '203.0.113.10',
  },
  {
    name: 'twin',
    tag: 'twin',
    kind: 'cone',
    lan: '192.168.1',
    phone: '192.168.1.10',
    publicAddress: '203.0.113.11',
  },
  {
    name: 'symmetric',
    tag: 'sym',
    kind: 'symmetric',
    lan: '192.168.2',
    phone: '192.168.2.10',
    publicAddress: '203.0.113.20',
  },
];

export function labPlan(prefix: string): LabPlan {
  const ns = (role: string) => `${prefix}-${role}`;
  const internetNs = ns('inet');
  const nodes: NodePlan[] = [];
  const links: LinkPlan[] = [];
  const toInternet = (host: LinkEnd, port: string) =>
    links.push({ a: host, b: { ns: internetNs, ifname: port, bridge: BRIDGE } });

  nodes.push({
    ns: internetNs,
    role: 'internet',
    label: 'internet router/switch, drops private destinations',
    forwarding: true,
    router: { bridge: BRIDGE, cidr: `${ROUTER}/24` },
  });

  const edge = { ns: ns('edge'), external: '203.0.113.1', internal: '10.0.0.1' };
  const pbx = { ns: ns('pbx'), address: '10.0.0.10' };
  // The edge does not forward: only Pinhole and rtpengine connect its two sides.
  nodes.push({
    ns: edge.ns,
    role: 'edge',
    label: 'edge: Pinhole + rtpengine',
    forwarding: false,
    defaultVia: ROUTER,
  });
  // The PBX has no default route: the internal segment ends at the edge.
  nodes.push({ ns: pbx.ns, role: 'pbx', label: 'PBX (internal segment)', forwarding: false });
  toInternet({ ns: edge.ns, ifname: 'ext0', cidr: `${edge.external}/24` }, 'edge');
  links.push({
    a: { ns: edge.ns, ifname: 'int0', cidr: `${edge.internal}/24` },
    b: { ns: pbx.ns, ifname: 'eth0', cidr: `${pbx.address}/24` },
  });

  const homes = {} as Record<HomeName, HomePlan>;
  for (const home of SINGLE_NAT_HOMES) {
    const phoneNs = ns(`p${home.tag}`);
    const natNs = ns(`n${home.tag}`);
    nodes.push({
      ns: phoneNs,
      role: 'phone',
      label: `phone (${home.name} home)`,
      forwarding: false,
      defaultVia: `${home.lan}.1`,
    });
    nodes.push({
      ns: natNs,
      role: 'nat',
      label: `${home.kind} NAT (${home.name} home)`,
      forwarding: true,
      defaultVia: ROUTER,
      nat: { kind: home.kind, lan: 'lan0', wan: 'wan0' },
    });
    links.push({
      a: { ns: phoneNs, ifname: 'eth0', cidr: `${home.phone}/24` },
      b: { ns: natNs, ifname: 'lan0', cidr: `${home.lan}.1/24` },
    });
    toInternet({ ns: natNs, ifname: 'wan0', cidr: `${home.publicAddress}/24` }, home.tag);
    homes[home.name] = {
      name: home.name,
      nat: home.kind,
      phone: { ns: phoneNs, address: home.phone },
      natNamespaces: [natNs],
      publicAddress: home.publicAddress,
    };
  }

  // Double NAT: the home router's WAN sits in RFC 6598 shared space behind the carrier's NAT.
  // Both masquerade without --random-fully, so the phone sees one port-preserving (cone) mapping,
  // which is what RFC 6888 asks of a CGN (endpoint-independent mapping).
  const cgnPhone = ns('pcgn');
  const homeRouter = ns('hcgn');
  const carrierNat = ns('ncgn');
  const cgnPublic = '203.0.113.30';
  nodes.push({
    ns: cgnPhone,
    role: 'phone',
    label: 'phone (CGNAT home)',
    forwarding: false,
    defaultVia: '192.168.3.1',
  });
  nodes.push({
    ns: homeRouter,
    role: 'nat',
    label: 'home router NAT behind CGNAT',
    forwarding: true,
    defaultVia: '100.64.0.1',
    nat: { kind: 'cone', lan: 'lan0', wan: 'wan0' },
  });
  nodes.push({
    ns: carrierNat,
    role: 'nat',
    label: 'carrier-grade NAT',
    forwarding: true,
    defaultVia: ROUTER,
    nat: { kind: 'cone', lan: 'lan0', wan: 'wan0' },
  });
  links.push({
    a: { ns: cgnPhone, ifname: 'eth0', cidr: '192.168.3.10/24' },
    b: { ns: homeRouter, ifname: 'lan0', cidr: '192.168.3.1/24' },
  });
  links.push({
    a: { ns: homeRouter, ifname: 'wan0', cidr: '100.64.0.2/24' },
    b: { ns: carrierNat, ifname: 'lan0', cidr: '100.64.0.1/24' },
  });
  toInternet({ ns: carrierNat, ifname: 'wan0', cidr: `${cgnPublic}/24` }, 'cgn');
  homes.cgnat = {
    name: 'cgnat',
    nat: 'cone',
    phone: { ns: cgnPhone, address: '192.168.3.10' },
    natNamespaces: [homeRouter, carrierNat],
    publicAddress: cgnPublic,
  };

  return {
    prefix,
    nodes,
    links,
    internet: { ns: internetNs, router: ROUTER },
    edge,
    pbx,
    homes,
  };
}

/** The plan as a table: one line per interface, so a person can see where everything lives. */
export function formatAddressPlan(plan: LabPlan): string {
  const rows: string[][] = [['namespace', 'interface', 'address', 'role']];
  const labelOf = new Map(plan.nodes.map((node) => [node.ns, node.label]));
  for (const node of plan.nodes) {
    const ends = plan.links.flatMap((link) => [link.a, link.b]).filter((end) => end.ns === node.ns);
    if (node.router) rows.push([node.ns, node.router.bridge, node.router.cidr, node.label]);
    for (const end of ends) {
      if (!end.cidr) continue;
      rows.push([node.ns, end.ifname, end.cidr, labelOf.get(node.ns) ?? '']);
    }
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd(),
  );
  const homes = Object.values(plan.homes).map(
    (home) =>
      `  ${home.name.padEnd(9)} phone ${home.phone.address.padEnd(12)} -> ${home.nat} NAT -> ${home.publicAddress}` +
      (home.natNamespaces.length > 1 ? ` (via ${home.natNamespaces.length} NATs)` : ''),
  );
  return [...lines, 'homes:', ...homes].join('\n');
}
