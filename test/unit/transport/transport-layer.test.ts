import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { TransportLayer } from '../../../src/sipserver/transport/transport-layer';
import type { Flow, ListeningPoint } from '../../../src/sipserver/transport/types';
import { Cleanup, connectTcp, nextEvent, socketClosed, sipRequest } from './helpers';

describe('transport layer: lifecycle', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  /** A TCP server that accepts connections and never says a word, like a stuck peer. */
  async function silentServer(): Promise<number> {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
    return (server.address() as net.AddressInfo).port;
  }

  async function canBindTcp(port: number): Promise<void> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  }

  async function canBindUdp(port: number): Promise<void> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => socket.close(resolve));
  }

  it('lists its listening points with the ports actually bound', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const udp = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const tcp = await transport.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
    assert.deepEqual(transport.listeningPoints(), [udp, tcp]);
    assert.ok(udp.port > 0 && tcp.port > 0);
  });

  it('rejects a listener on a port already in use', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const first = await transport.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
    await assert.rejects(transport.listen({ ...first }), /EADDRINUSE/);
    await assert.rejects(
      transport.listen({ protocol: 'tcp', address: 'localhost', port: 0 }),
      /not an IP address/,
    );
    assert.equal(transport.listeningPoints().length, 1);
  });

  it('close() ends every connection and releases every port', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const udp = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const tcp = await transport.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
    const ws = await transport.listen({ protocol: 'ws', address: '127.0.0.1', port: 0 });
    const peer = await connectTcp(tcp.port);
    cleanup.add(() => peer.destroy());
    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    peer.write(sipRequest('before-close'));
    await received;
    const closedFlows: Flow[] = [];
    transport.on('connection-closed', (flow: Flow) => closedFlows.push(flow));
    const peerSeesClose = socketClosed(peer);

    await transport.close();
    await peerSeesClose;
    assert.equal(closedFlows.length, 1);
    assert.equal(transport.stats.connectionsOpen, 0);
    assert.deepEqual(transport.listeningPoints(), []);
    await canBindUdp(udp.port);
    await canBindTcp(tcp.port);
    await canBindTcp(ws.port);
    await transport.close();
  });

  it('close() does not wait for a peer that never finishes its WebSocket upgrade', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const ws = await transport.listen({ protocol: 'ws', address: '127.0.0.1', port: 0 });
    const stuck = await connectTcp(ws.port);
    cleanup.add(() => stuck.destroy());
    stuck.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const peerSeesClose = socketClosed(stuck);
    await transport.close();
    await peerSeesClose;
  });

  it('refuses listen and send once closed', async () => {
    const transport = new TransportLayer();
    await transport.close();
    const point: ListeningPoint = { protocol: 'udp', address: '127.0.0.1', port: 0 };
    await assert.rejects(transport.listen(point), /transport layer is closed/);
    await assert.rejects(
      transport.send(Buffer.from('x'), { ...point, port: 9 }),
      /transport layer is closed/,
    );
  });

  it('gives up an outbound connection that does not answer within connectTimeoutMs', async () => {
    const port = await silentServer();
    const transport = new TransportLayer({ connectTimeoutMs: 200 });
    cleanup.add(() => transport.close());
    await assert.rejects(
      transport.send(sipRequest('stuck'), { protocol: 'ws', address: '127.0.0.1', port }),
      /cannot connect to ws:\/\/127.0.0.1:\d+\/: no answer within 200 ms/,
    );
    assert.equal(transport.stats.connectionsOpen, 0);
  });

  it('close() abandons outbound connection attempts in progress', async () => {
    const port = await silentServer();
    const transport = new TransportLayer();
    const pending = transport.send(sipRequest('abandoned'), { protocol: 'ws', address: '127.0.0.1', port });
    const outcome = assert.rejects(pending, /transport is closed/);
    await transport.close();
    await outcome;
  });

  it('refuses bad option values', () => {
    assert.throws(
      () => new TransportLayer({ maxMessageSize: 0 }),
      /maxMessageSize must be a positive number/,
    );
    assert.throws(() => new TransportLayer({ idleTimeoutMs: Number.NaN }), /idleTimeoutMs/);
  });
});
