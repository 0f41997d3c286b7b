import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import * as http from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { TransportLayer, type TransportOptions } from '../../../src/sipserver/transport/transport-layer';
import type { Flow, ListeningPoint } from '../../../src/sipserver/transport/types';
import { Cleanup, eventually, nextEvent, socketClosed, sipRequest } from './helpers';

describe('transport layer: WebSocket (RFC 7118)', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function listening(
    options?: TransportOptions,
  ): Promise<{ transport: TransportLayer; point: ListeningPoint }> {
    const transport = new TransportLayer(options);
    cleanup.add(() => transport.close());
    const point = await transport.listen({ protocol: 'ws', address: '127.0.0.1', port: 0 });
    return { transport, point };
  }

  function client(port: number, protocols?: string | string[]): WebSocket {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
    ws.on('error', () => {});
    cleanup.add(() => ws.terminate());
    return ws;
  }

  async function openClient(port: number): Promise<WebSocket> {
    const ws = client(port, 'sip');
    await nextEvent(ws, 'open');
    return ws;
  }

  it('accepts the sip subprotocol and carries one SIP message per WebSocket message', async () => {
    const { transport, point } = await listening();
    const ws = await openClient(point.port);
    assert.equal(ws.protocol, 'sip');

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    ws.send(sipRequest('ws-1').toString());
    const [data, flow] = await received;
    assert.deepEqual(data, sipRequest('ws-1'));
    assert.equal(flow.protocol, 'ws');
    assert.equal(flow.localAddress, '127.0.0.1');
    assert.equal(flow.localPort, point.port);
    assert.equal(flow.remoteAddress, '127.0.0.1');
    assert.equal(typeof flow.connectionId, 'string');

    const binary = nextEvent<[Buffer]>(transport, 'message');
    ws.send(sipRequest('ws-binary'), { binary: true });
    assert.deepEqual((await binary)[0], sipRequest('ws-binary'));

    const answer = nextEvent<[RawData, boolean]>(ws, 'message');
    const sent = await transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'ws',
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
    const [reply, isBinary] = await answer;
    assert.equal(reply.toString(), 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(isBinary, false);
    assert.deepEqual(sent, flow);
  });

  for (const offered of [undefined, 'foo', ['chat', 'SIP']]) {
    it(`refuses a handshake offering ${JSON.stringify(offered ?? 'no subprotocol')}`, async () => {
      const { transport, point } = await listening();
      const ws = client(point.port, offered);
      const refused = nextEvent<[unknown, IncomingMessage]>(ws, 'unexpected-response');
      const [, response] = await refused;
      assert.equal(response.statusCode, 400);
      assert.equal(transport.stats.badInput, 1);
      assert.equal(transport.stats.connectionsOpen, 0);
    });
  }

  it('accepts sip among other offered subprotocols', async () => {
    const { point } = await listening();
    const ws = client(point.port, ['chat', 'sip']);
    await nextEvent(ws, 'open');
    assert.equal(ws.protocol, 'sip');
  });

  it('answers plain HTTP with 426 Upgrade Required', async () => {
    const { point } = await listening();
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port: point.port, path: '/' }, resolve);
      request.on('error', reject);
    });
    response.resume();
    assert.equal(response.statusCode, 426);
  });

  it('answers a CRLF ping with a CRLF pong, as SIP.js expects', async () => {
    const { transport, point } = await listening();
    const ws = await openClient(point.port);
    let messages = 0;
    transport.on('message', () => messages++);
    const pong = nextEvent<[RawData]>(ws, 'message');
    ws.send('\r\n\r\n');
    assert.equal((await pong)[0].toString(), '\r\n');
    assert.equal(transport.stats.keepalives, 1);
    assert.equal(messages, 0);
  });

  it('refuses a WebSocket message larger than maxMessageSize', async () => {
    const { transport, point } = await listening({ maxMessageSize: 200 });
    const ws = await openClient(point.port);
    const closed = nextEvent<[number]>(ws, 'close');
    const refused = nextEvent<[string, Flow]>(transport, 'bad-input');
    ws.send('x'.repeat(201));
    assert.match((await refused)[0], /websocket: Max payload size exceeded/);
    assert.equal((await closed)[0], 1009);
    assert.equal(transport.stats.badInput, 1);
  });

  it('reports connection-closed and refuses to send on a closed WebSocket connection', async () => {
    const { transport, point } = await listening();
    const ws = await openClient(point.port);
    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    ws.send(sipRequest('bye').toString());
    const [, flow] = await received;

    const gone = nextEvent<[Flow]>(transport, 'connection-closed');
    ws.close();
    assert.deepEqual((await gone)[0], flow);
    assert.equal(transport.hasConnection(flow.connectionId as string), false);
    await assert.rejects(
      transport.send(Buffer.from('late'), {
        protocol: 'ws',
        address: flow.remoteAddress,
        port: flow.remotePort,
        connectionId: flow.connectionId,
      }),
      /connection ws-\d+ is closed; a WebSocket client can only be reached on a connection it opens/,
    );
  });

  it('closes a connection on closeConnection with a WebSocket close', async () => {
    const { transport, point } = await listening();
    const ws = await openClient(point.port);
    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    ws.send(sipRequest('x').toString());
    const [, flow] = await received;
    const closed = nextEvent<[number]>(ws, 'close');
    transport.closeConnection(flow.connectionId as string);
    assert.equal((await closed)[0], 1000);
  });

  it('closes an idle WebSocket connection', async () => {
    const { transport, point } = await listening({ idleTimeoutMs: 300 });
    const ws = await openClient(point.port);
    const closed = socketClosed(ws);
    await nextEvent(transport, 'connection-closed');
    await closed;
  });

  it('opens an outbound WebSocket connection with the sip subprotocol', async () => {
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (offered) => (offered.has('sip') ? 'sip' : false),
    });
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    await nextEvent(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = nextEvent<[WebSocket]>(server, 'connection');
    const arrived: string[] = [];
    server.on('connection', (ws) => ws.on('message', (data: RawData) => arrived.push(data.toString())));

    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    const flow = await transport.send(sipRequest('ws-out'), { protocol: 'ws', address: '127.0.0.1', port });
    const [remote] = await accepted;
    assert.equal(remote.protocol, 'sip');
    assert.equal(flow.protocol, 'ws');
    assert.equal(flow.remotePort, port);

    const again = await transport.send(sipRequest('ws-out-2'), {
      protocol: 'ws',
      address: '127.0.0.1',
      port,
    });
    assert.equal(again.connectionId, flow.connectionId);
    await eventually(() => arrived.length === 2, 'both messages arrived');
    assert.deepEqual(arrived, [sipRequest('ws-out').toString(), sipRequest('ws-out-2').toString()]);
    assert.equal(server.clients.size, 1);

    const back = nextEvent<[Buffer, Flow]>(transport, 'message');
    remote.send(sipRequest('ws-in').toString());
    const [, backFlow] = await back;
    assert.equal(backFlow.connectionId, flow.connectionId);
  });

  it('fails an outbound WebSocket connection when the server does not speak sip', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    await nextEvent(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    await assert.rejects(
      transport.send(sipRequest('nope'), { protocol: 'ws', address: '127.0.0.1', port }),
      /cannot connect to ws:\/\/127.0.0.1:\d+\/: Server sent no subprotocol/,
    );
    assert.equal(transport.stats.connectionsOpen, 0);
  });
});
