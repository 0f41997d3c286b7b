import assert from 'node:assert/strict';
import * as net from 'node:net';
import { TransportLayer, type TransportOptions } from '../../../src/sipserver/transport/transport-layer';
import type { Flow, ListeningPoint } from '../../../src/sipserver/transport/types';
import {
  ByteCollector,
  Cleanup,
  connectTcp,
  delay,
  eventually,
  nextEvent,
  socketClosed,
  sipRequest,
} from './helpers';

describe('transport layer: TCP', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function listening(
    options?: TransportOptions,
  ): Promise<{ transport: TransportLayer; point: ListeningPoint }> {
    const transport = new TransportLayer(options);
    cleanup.add(() => transport.close());
    const point = await transport.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
    return { transport, point };
  }

  async function peer(port: number): Promise<net.Socket> {
    const socket = await connectTcp(port);
    cleanup.add(() => socket.destroy());
    return socket;
  }

  /** A plain TCP server standing in for a remote SIP peer. */
  async function remoteServer(): Promise<{ port: number; sockets: net.Socket[]; server: net.Server }> {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
    return { port: (server.address() as net.AddressInfo).port, sockets, server };
  }

  it('frames messages split over several segments and several messages in one', async () => {
    const { transport, point } = await listening();
    const socket = await peer(point.port);
    const messages: [Buffer, Flow][] = [];
    transport.on('message', (data: Buffer, flow: Flow) => messages.push([data, flow]));

    const first = sipRequest('split', 'v=0\r\n');
    socket.write(first.subarray(0, 20));
    await delay(20);
    socket.write(first.subarray(20, first.length - 3));
    await delay(20);
    socket.write(first.subarray(first.length - 3));
    await eventually(() => messages.length === 1, 'the split message arrived');

    const second = sipRequest('merged-1');
    const third = sipRequest('merged-2', 'body');
    socket.write(Buffer.concat([second, third]));
    await eventually(() => messages.length === 3, 'both merged messages arrived');

    assert.deepEqual(
      messages.map(([data]) => data),
      [first, second, third],
    );
    const flow = messages[0][1];
    assert.deepEqual(flow, {
      protocol: 'tcp',
      localAddress: '127.0.0.1',
      localPort: point.port,
      remoteAddress: '127.0.0.1',
      remotePort: socket.localPort,
      connectionId: flow.connectionId,
    });
    assert.equal(typeof flow.connectionId, 'string');
    assert.ok(transport.hasConnection(flow.connectionId as string));
    assert.equal(transport.stats.connectionsOpen, 1);
    assert.equal(transport.stats.received, 3);
  });

  it('answers a CRLF ping with a CRLF pong (RFC 5626 §4.4.1)', async () => {
    const { transport, point } = await listening();
    const socket = await peer(point.port);
    const bytes = new ByteCollector(socket);
    let messages = 0;
    transport.on('message', () => messages++);

    socket.write('\r\n\r\n');
    await bytes.waitForText('\r\n');
    await delay(30);
    assert.equal(bytes.text, '\r\n');
    assert.equal(transport.stats.keepalives, 1);
    assert.equal(messages, 0);
  });

  it('closes only the connection with a framing error', async () => {
    const { transport, point } = await listening();
    const bad = await peer(point.port);
    const good = await peer(point.port);
    const badPort = bad.localPort;
    const closedByUs = socketClosed(bad);

    const refused = nextEvent<[string, Flow]>(transport, 'bad-input');
    bad.write('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: no-length\r\n\r\n');
    const [reason, flow] = await refused;
    assert.match(reason, /Content-Length/);
    assert.equal(flow.remotePort, badPort);
    await closedByUs;
    assert.equal(transport.hasConnection(flow.connectionId as string), false);

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    good.write(sipRequest('still-fine'));
    const [data, goodFlow] = await received;
    assert.match(data.toString(), /still-fine/);
    assert.equal(goodFlow.remotePort, good.localPort);
    assert.equal(transport.stats.badInput, 1);
  });

  it('refuses and closes a connection whose message exceeds maxMessageSize', async () => {
    const { transport, point } = await listening({ maxMessageSize: 500 });
    const socket = await peer(point.port);
    const closed = socketClosed(socket);
    const refused = nextEvent<[string]>(transport, 'bad-input');
    socket.write(sipRequest('huge', 'x'.repeat(600)));
    assert.match((await refused)[0], /exceeds the maximum of 500/);
    await closed;
    assert.equal(transport.stats.badInput, 1);
    assert.equal(transport.stats.received, 0);
  });

  it('sends on the inbound connection, by id and by address', async () => {
    const { transport, point } = await listening();
    const socket = await peer(point.port);
    const bytes = new ByteCollector(socket);
    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    socket.write(sipRequest('reuse'));
    const [, flow] = await received;

    const byId = await transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'tcp',
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
    assert.deepEqual(byId, flow);
    const byAddress = await transport.send(Buffer.from('SIP/2.0 202 Accepted\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'tcp',
      address: flow.remoteAddress,
      port: flow.remotePort,
    });
    assert.equal(byAddress.connectionId, flow.connectionId);
    await bytes.waitForText('202 Accepted');
    assert.match(bytes.text, /200 OK[\s\S]*202 Accepted/);
    assert.equal(transport.stats.connectionsOpen, 1);
  });

  it('opens one outbound connection, reuses it, and receives on it', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const remote = await remoteServer();
    const target = { protocol: 'tcp' as const, address: '127.0.0.1', port: remote.port };

    // Two sends before the connection is up share one connection attempt.
    const [one, two] = await Promise.all([
      transport.send(sipRequest('out-1'), target),
      transport.send(sipRequest('out-2'), target),
    ]);
    const three = await transport.send(sipRequest('out-3'), target);
    assert.equal(remote.sockets.length, 1);
    assert.equal(one.connectionId, two.connectionId);
    assert.equal(one.connectionId, three.connectionId);
    assert.equal(one.remotePort, remote.port);
    assert.equal(one.localPort, remote.sockets[0].remotePort);

    const bytes = new ByteCollector(remote.sockets[0]);
    await bytes.waitForText('out-3');
    assert.match(bytes.text, /out-1[\s\S]*out-2[\s\S]*out-3|out-2[\s\S]*out-1[\s\S]*out-3/);

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    remote.sockets[0].write(sipRequest('from-remote'));
    const [data, flow] = await received;
    assert.match(data.toString(), /from-remote/);
    assert.equal(flow.connectionId, one.connectionId);
  });

  it('falls back to the address when the named connection is gone', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const remote = await remoteServer();
    const flow = await transport.send(sipRequest('fallback'), {
      protocol: 'tcp',
      address: '127.0.0.1',
      port: remote.port,
      connectionId: 'tcp-does-not-exist',
    });
    assert.notEqual(flow.connectionId, 'tcp-does-not-exist');
    assert.equal(remote.sockets.length, 1);
  });

  it('rejects a send when the peer refuses the connection', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const remote = await remoteServer();
    await new Promise((resolve) => remote.server.close(resolve));
    await assert.rejects(
      transport.send(sipRequest('nobody'), { protocol: 'tcp', address: '127.0.0.1', port: remote.port }),
      new RegExp(`cannot connect to tcp://127.0.0.1:${remote.port}: .*ECONNREFUSED`),
    );
  });

  it('reports connection-closed when the peer leaves and when we close', async () => {
    const { transport, point } = await listening();
    const leaving = await peer(point.port);
    const staying = await peer(point.port);
    await eventually(() => transport.stats.connectionsOpen === 2, 'both connections are open');

    const leavingPort = leaving.localPort;
    const first = nextEvent<[Flow]>(transport, 'connection-closed');
    leaving.end();
    const [leftFlow] = await first;
    assert.equal(leftFlow.remotePort, leavingPort);
    assert.equal(transport.hasConnection(leftFlow.connectionId as string), false);

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    staying.write(sipRequest('who'));
    const [, stayingFlow] = await received;
    const peerSeesClose = socketClosed(staying);
    const second = nextEvent<[Flow]>(transport, 'connection-closed');
    transport.closeConnection(stayingFlow.connectionId as string);
    assert.deepEqual((await second)[0], stayingFlow);
    await peerSeesClose;
    assert.equal(transport.stats.connectionsOpen, 0);
  });

  it('closes a connection idle for idleTimeoutMs', async () => {
    const { transport, point } = await listening({ idleTimeoutMs: 300 });
    const socket = await peer(point.port);
    const port = socket.localPort;
    const peerSeesClose = socketClosed(socket);
    const [flow] = await nextEvent<[Flow]>(transport, 'connection-closed');
    assert.equal(flow.remotePort, port);
    await peerSeesClose;
  });

  it('keeps a connection that sends keepalives within idleTimeoutMs', async () => {
    const { transport, point } = await listening({ idleTimeoutMs: 400 });
    const socket = await peer(point.port);
    let closed = false;
    transport.on('connection-closed', () => (closed = true));
    for (let i = 0; i < 8; i++) {
      socket.write('\r\n\r\n');
      await delay(100);
    }
    assert.equal(closed, false);
    assert.equal(transport.stats.connectionsOpen, 1);
    assert.equal(transport.stats.keepalives, 8);
  });

  it('refuses inbound connections past maxConnections', async () => {
    const { transport, point } = await listening({ maxConnections: 1 });
    await peer(point.port);
    await eventually(() => transport.stats.connectionsOpen === 1, 'the first connection is open');
    const second = await peer(point.port);
    await socketClosed(second);
    assert.equal(transport.stats.connectionsOpen, 1);
  });

  it('keeps serving when a message listener throws', async () => {
    const { transport, point } = await listening();
    const socket = await peer(point.port);
    const warnings: string[] = [];
    const quiet = new TransportLayer({
      logger: { info: () => {}, debug: () => {}, warn: (msg) => warnings.push(msg) },
    });
    cleanup.add(() => quiet.close());
    const quietPoint = await quiet.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
    const quietPeer = await peer(quietPoint.port);
    quiet.once('message', () => {
      throw new Error('listener bug');
    });
    quietPeer.write(sipRequest('throws'));
    await eventually(() => warnings.length === 1, 'the throw was logged');
    assert.match(warnings[0], /'message' listener threw/);
    const next = nextEvent<[Buffer]>(quiet, 'message');
    quietPeer.write(sipRequest('after-throw'));
    assert.match((await next)[0].toString(), /after-throw/);

    const other = nextEvent<[Buffer]>(transport, 'message');
    socket.write(sipRequest('unaffected'));
    assert.match((await other)[0].toString(), /unaffected/);
  });
});
