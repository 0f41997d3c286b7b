import assert from 'node:assert/strict';
import { listNamespaces, rootLinksWithPrefix, runChecked } from './lab/netns';
import { UdpPeer } from './lab/peer-control';
import {
  createLab,
  DEFAULT_UDP_STREAM_TIMEOUT_S,
  DEFAULT_UDP_TIMEOUT_S,
  formatAddressPlan,
  HOME_NAMES,
  labSupported,
  removeStaleLabs,
  type HomeName,
  type Lab,
} from './lab/topology';

// Long enough for a datagram to cross the lab many times over; short enough to keep the suite quick.
const SILENCE_MS = 400;
const EXPIRY_TIMEOUT_S = 3;

describe('e2e lab: network-namespace NAT topology', function () {
  this.timeout(30000);
  let lab: Lab | undefined;
  let edge: UdpPeer;
  let pbx: UdpPeer;
  const phones = {} as Record<HomeName, UdpPeer>;
  const edgePorts = { ext1: 0, ext2: 0, int: 0 };
  let pbxPort = 0;

  function theLab(): Lab {
    assert.ok(lab, 'the lab was not built');
    return lab;
  }

  before(async function () {
    const support = await labSupported();
    if (!support.ok) {
      throw new Error(`the network-namespace lab cannot run on this machine: ${support.reason}`);
    }
    lab = await createLab();
    console.log(`      lab '${lab.prefix}' address plan:\n${indent(formatAddressPlan(lab.plan), 8)}`);
    edge = UdpPeer.start(lab, lab.edge.ns);
    pbx = UdpPeer.start(lab, lab.pbx.ns);
    for (const home of HOME_NAMES) phones[home] = UdpPeer.start(lab, lab.homes[home].phone.ns);
    edgePorts.ext1 = await edge.bind('ext1', { address: lab.edge.external, echo: true });
    edgePorts.ext2 = await edge.bind('ext2', { address: lab.edge.external, echo: true });
    edgePorts.int = await edge.bind('int', { address: lab.edge.internal, echo: true });
    pbxPort = await pbx.bind('sip', { address: lab.pbx.address, echo: true });
    const built = lab;
    // Also waits for every phone's peer process to be up, so test timings show the network only.
    await Promise.all(
      HOME_NAMES.map((home) => phones[home].bind('main', { address: built.homes[home].phone.address })),
    );
  });

  after(async function () {
    await Promise.all([edge, pbx, ...Object.values(phones)].filter(Boolean).map((peer) => peer.stop()));
    await lab?.destroy();
  });

  it('lets every phone reach the edge, which sees the NAT public address, not the private one', async function () {
    const l = theLab();
    for (const home of HOME_NAMES) {
      const { phone, publicAddress } = l.homes[home];
      const reply = await phones[home].echo('main', l.edge.external, edgePorts.ext1);
      assert.equal(reply.seenFrom.address, publicAddress, `${home} phone seen as`);
      assert.notEqual(reply.seenFrom.address, phone.address);
    }
  });

  it('keeps one public port per socket on cone NATs and maps each destination apart on the symmetric one', async function () {
    const l = theLab();
    const seen: string[] = [];
    for (const home of HOME_NAMES) {
      const local = await phones[home].bind('mapping', { address: l.homes[home].phone.address });
      const first = await phones[home].echo('mapping', l.edge.external, edgePorts.ext1);
      const second = await phones[home].echo('mapping', l.edge.external, edgePorts.ext2);
      seen.push(`${home}: local ${local} -> ${first.seenFrom.port}, ${second.seenFrom.port}`);
      if (l.homes[home].nat === 'cone') {
        assert.equal(
          second.seenFrom.port,
          first.seenFrom.port,
          `${home} NAT changed the port per destination`,
        );
      } else {
        assert.notEqual(
          second.seenFrom.port,
          first.seenFrom.port,
          `${home} NAT reused the port for a new destination`,
        );
      }
    }
    console.log(
      `      public ports seen by the edge for one socket to two ports:\n${indent(seen.join('\n'), 8)}`,
    );
  });

  it('drops unsolicited UDP to a home until the phone opens a binding, and then admits only the contacted ip:port', async function () {
    const l = theLab();
    for (const home of HOME_NAMES) {
      const { phone, publicAddress } = l.homes[home];
      const local = await phones[home].bind('pinhole', { address: phone.address });
      const dropsBefore = await l.unsolicitedDrops(home);
      // Linux NATs try to keep the source port, so this is where a binding would appear.
      await edge.send('ext1', publicAddress, local, 'unsolicited');
      assert.equal(
        await phones[home].receive('pinhole', SILENCE_MS),
        undefined,
        `${home}: unsolicited packet arrived`,
      );
      assert.ok((await l.unsolicitedDrops(home)) > dropsBefore, `${home}: the NAT did not count the drop`);

      const mapped = (await phones[home].echo('pinhole', l.edge.external, edgePorts.ext1)).seenFrom.port;
      await edge.send('ext1', publicAddress, mapped, 'solicited');
      assert.equal(
        (await phones[home].receive('pinhole', 2000))?.data,
        'solicited',
        `${home}: reply did not arrive`,
      );

      const dropsBeforeOtherPort = await l.unsolicitedDrops(home);
      await edge.send('ext2', publicAddress, mapped, 'other port');
      assert.equal(
        await phones[home].receive('pinhole', SILENCE_MS),
        undefined,
        `${home}: a packet from another port of the contacted host got through`,
      );
      assert.ok((await l.unsolicitedDrops(home)) > dropsBeforeOtherPort);
    }
  });

  it('drops packets addressed to private and shared-space destinations on the internet', async function () {
    const l = theLab();
    const cone = l.homes.cone;
    const local = await phones.cone.bind('private', { address: cone.phone.address });
    const dropsBefore = await l.privateDestinationDrops();
    await edge.send('ext1', cone.phone.address, local, 'to a private address');
    await edge.send('ext1', '100.64.0.2', local, 'to the CGNAT shared space');
    assert.equal(await phones.cone.receive('private', SILENCE_MS), undefined);
    assert.equal((await l.privateDestinationDrops()) - dropsBefore, 2);
  });

  it("stops a neighbour that routes straight at a home's LAN with the NAT's forward filter", async function () {
    const l = theLab();
    const cone = l.homes.cone;
    const local = await phones.cone.bind('direct', { address: cone.phone.address });
    await runChecked([
      'ip',
      '-n',
      l.edge.ns,
      'route',
      'add',
      `${cone.phone.address}/32`,
      'via',
      cone.publicAddress,
    ]);
    try {
      const dropsBefore = await l.unsolicitedDrops('cone');
      await edge.send('ext1', cone.phone.address, local, 'past the internet filter');
      assert.equal(
        await phones.cone.receive('direct', SILENCE_MS),
        undefined,
        'the NAT forwarded it to the LAN',
      );
      assert.ok((await l.unsolicitedDrops('cone')) > dropsBefore);
    } finally {
      await runChecked(['ip', '-n', l.edge.ns, 'route', 'del', `${cone.phone.address}/32`]);
    }
  });

  it('shows the twin phones, both on the same private address, under different public addresses', async function () {
    const l = theLab();
    const cone = l.homes.cone;
    const twin = l.homes.twin;
    assert.equal(twin.phone.address, cone.phone.address);
    // Binding to the address proves each namespace really owns it.
    await phones.cone.bind('twin', { address: cone.phone.address });
    await phones.twin.bind('twin', { address: twin.phone.address });
    const fromCone = await phones.cone.echo('twin', l.edge.external, edgePorts.ext1);
    const fromTwin = await phones.twin.echo('twin', l.edge.external, edgePorts.ext1);
    assert.equal(fromCone.seenFrom.address, cone.publicAddress);
    assert.equal(fromTwin.seenFrom.address, twin.publicAddress);
    assert.notEqual(fromCone.seenFrom.address, fromTwin.seenFrom.address);
  });

  it('sends the CGNAT phone through a 100.64/10 hop and out of the carrier NAT', async function () {
    const l = theLab();
    const cgnat = l.homes.cgnat;
    assert.equal(cgnat.natNamespaces.length, 2);
    await phones.cgnat.bind('double', { address: cgnat.phone.address });
    const reply = await phones.cgnat.echo('double', l.edge.external, edgePorts.ext1);
    assert.equal(reply.seenFrom.address, cgnat.publicAddress);
    // The carrier NAT saw the flow coming from the home router's shared-space address.
    const tracked = await runChecked(
      ['ip', 'netns', 'exec', cgnat.natNs, 'conntrack', '-L', '-p', 'udp', '--dport', String(edgePorts.ext1)],
      {},
    );
    assert.match(tracked, /src=100\.64\.0\.2 /);
  });

  it('expires an idle binding after the conntrack UDP timeout, after which the edge is dropped', async function () {
    const l = theLab();
    const { phone, publicAddress } = l.homes.cone;
    await l.setUdpTimeout(EXPIRY_TIMEOUT_S);
    try {
      await phones.cone.bind('expiry', { address: phone.address });
      const mapped = (await phones.cone.echo('expiry', l.edge.external, edgePorts.ext1)).seenFrom.port;
      await edge.send('ext1', publicAddress, mapped, 'still bound');
      assert.equal((await phones.cone.receive('expiry', 2000))?.data, 'still bound');

      await sleep(EXPIRY_TIMEOUT_S * 1000 + 1000);
      const dropsBefore = await l.unsolicitedDrops('cone');
      await edge.send('ext1', publicAddress, mapped, 'after expiry');
      assert.equal(
        await phones.cone.receive('expiry', SILENCE_MS),
        undefined,
        'the binding outlived its timeout',
      );
      assert.ok((await l.unsolicitedDrops('cone')) > dropsBefore);
    } finally {
      await l.setUdpTimeout(DEFAULT_UDP_TIMEOUT_S, DEFAULT_UDP_STREAM_TIMEOUT_S);
    }
  });

  it('lets the PBX reach the edge internal address and keeps the internal segment out of the phones reach', async function () {
    const l = theLab();
    await pbx.bind('probe', { address: l.pbx.address });
    const reply = await pbx.echo('probe', l.edge.internal, edgePorts.int);
    assert.equal(reply.seenFrom.address, l.pbx.address);

    edge.discard('int');
    pbx.discard('sip');
    const dropsBefore = await l.privateDestinationDrops();
    for (const home of HOME_NAMES) {
      await phones[home].send('main', l.pbx.address, pbxPort, 'to the pbx');
      await phones[home].send('main', l.edge.internal, edgePorts.int, 'to the edge inside');
    }
    assert.equal(await pbx.receive('sip', SILENCE_MS), undefined, 'a phone reached the PBX');
    // A late retry of the PBX's echo probe may still arrive here; only the phones' packets count.
    for (let got = await edge.receive('int', 0); got; got = await edge.receive('int', 0))
      assert.notEqual(got.data, 'to the edge inside', "a phone reached the edge's internal address");
    assert.equal((await l.privateDestinationDrops()) - dropsBefore, HOME_NAMES.length * 2);
    // And the PBX has no way out to the internet: the internal segment ends at the edge.
    await assert.rejects(pbx.send('probe', l.homes.cone.publicAddress, 5060, 'out'), /ENETUNREACH/);
  });

  it('removes leftovers of a killed run but keeps the namespaces of a live one', async function () {
    const l = theLab();
    // A pid above any pid_max (2^22): its owner cannot be running.
    const leftover = 'pht9999999-inet';
    await runChecked(['ip', 'netns', 'add', leftover]);
    const removed = await removeStaleLabs();
    assert.ok(removed.includes(leftover), `removed ${removed.join(', ')}`);
    const remaining = await listNamespaces();
    assert.ok(!remaining.includes(leftover));
    assert.ok(remaining.includes(l.edge.ns), 'the running lab was torn down');
  });

  it('destroy() leaves no namespace or veth with the prefix, and may be called again', async function () {
    const l = theLab();
    await l.destroy();
    const left = (await listNamespaces()).filter((ns) => ns.startsWith(`${l.prefix}-`));
    assert.deepEqual(left, []);
    assert.deepEqual(await rootLinksWithPrefix(l.prefix), []);
    await l.destroy();
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}
