import assert from 'node:assert/strict';
import type * as dgram from 'node:dgram';
import { TransportLayer, type TransportOptions } from '../../../src/sipserver/transport/transport-layer';
import type { Flow } from '../../../src/sipserver/transport/types';
import { Cleanup, ipv6Available, nextEvent, sipRequest, udpClient } from './helpers';

describe('transport layer: UDP', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  function layer(options?: TransportOptions): TransportLayer {
    const transport = new TransportLayer(options);
    cleanup.add(() => transport.close());
    return transport;
  }

  async function client(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
    const socket = await udpClient(type, address);
    cleanup.add(() => socket.close());
    return socket;
  }

  it('receives a datagram as one message and answers from the same listener', async () => {
    const transport = layer();
    const point = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    assert.notEqual(point.port, 0);
    const peer = await client('udp4', '127.0.0.1');
    const request = sipRequest('udp-1');

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    peer.send(request, point.port, '127.0.0.1');
    const [data, flow] = await received;
    assert.deepEqual(data, request);
    assert.deepEqual(flow, {
      protocol: 'udp',
      localAddress: '127.0.0.1',
      localPort: point.port,
      remoteAddress: '127.0.0.1',
      remotePort: peer.address().port,
    });

    const answer = nextEvent<[Buffer, dgram.RemoteInfo]>(peer, 'message');
    const sentFlow = await transport.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), {
      protocol: 'udp',
      address: flow.remoteAddress,
      port: flow.remotePort,
    });
    const [reply, from] = await answer;
    assert.equal(reply.toString(), 'SIP/2.0 200 OK\r\n\r\n');
    assert.equal(from.port, point.port);
    assert.deepEqual(sentFlow, flow);
    assert.equal(transport.stats.received, 1);
    assert.equal(transport.stats.sent, 1);
  });

  it('counts CRLF datagrams as keepalives, not messages', async () => {
    const transport = layer();
    const point = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await client('udp4', '127.0.0.1');
    const messages: Buffer[] = [];
    transport.on('message', (data: Buffer) => messages.push(data));

    const received = nextEvent(transport, 'message');
    peer.send('\r\n\r\n', point.port, '127.0.0.1');
    peer.send('\r\n', point.port, '127.0.0.1');
    peer.send(sipRequest('after-keepalive'), point.port, '127.0.0.1');
    await received;
    assert.equal(messages.length, 1);
    assert.match(messages[0].toString(), /after-keepalive/);
    assert.equal(transport.stats.keepalives, 2);
  });

  it('refuses and counts a datagram larger than maxMessageSize', async () => {
    const transport = layer({ maxMessageSize: 300 });
    const point = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await client('udp4', '127.0.0.1');
    let messages = 0;
    transport.on('message', () => messages++);

    const refused = nextEvent<[string, Flow]>(transport, 'bad-input');
    peer.send(sipRequest('big', 'x'.repeat(400)), point.port, '127.0.0.1');
    const [reason, flow] = await refused;
    assert.match(reason, /exceeds the maximum of 300/);
    assert.equal(flow.remotePort, peer.address().port);
    assert.equal(messages, 0);
    assert.equal(transport.stats.badInput, 1);
  });

  it('refuses to send a message larger than maxMessageSize', async () => {
    const transport = layer({ maxMessageSize: 300 });
    await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    await assert.rejects(
      transport.send(Buffer.alloc(301, 0x41), { protocol: 'udp', address: '127.0.0.1', port: 9 }),
      /exceeds the maximum of 300/,
    );
  });

  it('sends from the listener the target names by local port', async () => {
    const transport = layer();
    const first = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const second = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const peer = await client('udp4', '127.0.0.1');
    for (const wanted of [second, first]) {
      const arrived = nextEvent<[Buffer, dgram.RemoteInfo]>(peer, 'message');
      const flow = await transport.send(Buffer.from('ping'), {
        protocol: 'udp',
        address: '127.0.0.1',
        port: peer.address().port,
        localPort: wanted.port,
      });
      assert.equal((await arrived)[1].port, wanted.port);
      assert.equal(flow.localPort, wanted.port);
    }
  });

  it('refuses targets no listener can reach, and non-IP targets', async () => {
    const transport = layer();
    await assert.rejects(
      transport.send(Buffer.from('x'), { protocol: 'udp', address: '127.0.0.1', port: 9 }),
      /no udp listener/,
    );
    await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    await assert.rejects(
      transport.send(Buffer.from('x'), { protocol: 'udp', address: '2001:db8::1', port: 9 }),
      /no udp listener can send to 2001:db8::1/,
    );
    await assert.rejects(
      transport.send(Buffer.from('x'), { protocol: 'udp', address: 'example.com', port: 9 }),
      /not an IP address/,
    );
  });

  describe('over IPv6', () => {
    // Fails rather than skips: an edge that silently loses IPv6 should not pass its tests.
    before(async () => {
      assert.ok(await ipv6Available(), 'this host cannot bind ::1: IPv6 on loopback is needed');
    });

    it('round-trips on ::1', async () => {
      const transport = layer();
      const point = await transport.listen({ protocol: 'udp', address: '::1', port: 0 });
      const peer = await client('udp6', '::1');
      const received = nextEvent<[Buffer, Flow]>(transport, 'message');
      peer.send(sipRequest('v6'), point.port, '::1');
      const [, flow] = await received;
      assert.equal(flow.remoteAddress, '::1');
      assert.equal(flow.localAddress, '::1');

      const answer = nextEvent<[Buffer]>(peer, 'message');
      await transport.send(Buffer.from('pong'), { protocol: 'udp', address: '::1', port: flow.remotePort });
      assert.equal((await answer)[0].toString(), 'pong');
    });

    it('reports IPv4 peers of a dual-stack :: listener as plain IPv4 and answers them', async () => {
      const transport = layer();
      const point = await transport.listen({ protocol: 'udp', address: '::', port: 0 });
      const peer = await client('udp4', '127.0.0.1');
      const received = nextEvent<[Buffer, Flow]>(transport, 'message');
      peer.send(sipRequest('mapped'), point.port, '127.0.0.1');
      const [, flow] = await received;
      assert.equal(flow.remoteAddress, '127.0.0.1');
      assert.equal(flow.localAddress, '::');

      const answer = nextEvent<[Buffer]>(peer, 'message');
      await transport.send(Buffer.from('pong'), {
        protocol: 'udp',
        address: '127.0.0.1',
        port: flow.remotePort,
      });
      assert.equal((await answer)[0].toString(), 'pong');
    });

    it('prefers a listener of the target address family', async () => {
      const transport = layer();
      const v6 = await transport.listen({ protocol: 'udp', address: '::', port: 0 });
      const v4 = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
      const peer4 = await client('udp4', '127.0.0.1');
      const peer6 = await client('udp6', '::1');
      const at4 = nextEvent<[Buffer, dgram.RemoteInfo]>(peer4, 'message');
      await transport.send(Buffer.from('a'), {
        protocol: 'udp',
        address: '127.0.0.1',
        port: peer4.address().port,
      });
      assert.equal((await at4)[1].port, v4.port);
      const at6 = nextEvent<[Buffer, dgram.RemoteInfo]>(peer6, 'message');
      await transport.send(Buffer.from('b'), { protocol: 'udp', address: '::1', port: peer6.address().port });
      assert.equal((await at6)[1].port, v6.port);
    });
  });
});
