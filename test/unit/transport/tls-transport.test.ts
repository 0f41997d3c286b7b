import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { WebSocket, type RawData } from 'ws';
import { TransportLayer, type TransportOptions } from '../../../src/sipserver/transport/transport-layer';
import type { Flow } from '../../../src/sipserver/transport/types';
import {
  ByteCollector,
  Cleanup,
  connectTcp,
  eventually,
  nextEvent,
  socketClosed,
  sipRequest,
} from './helpers';

describe('transport layer: TLS and WSS', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());
  let dir = '';
  let credentials: { cert: Buffer; key: Buffer };

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-tls-'));
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=localhost',
          '-days',
          '1',
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
    } catch (err) {
      throw new Error(`cannot make a self-signed certificate with openssl: ${(err as Error).message}`);
    }
    credentials = { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function layer(options: TransportOptions = {}): TransportLayer {
    const transport = new TransportLayer({ tls: credentials, ...options });
    cleanup.add(() => transport.close());
    return transport;
  }

  it('receives and answers over an inbound TLS connection', async () => {
    const transport = layer();
    const point = await transport.listen({ protocol: 'tls', address: '127.0.0.1', port: 0 });
    const socket = tls.connect({ host: '127.0.0.1', port: point.port, rejectUnauthorized: false });
    socket.on('error', () => {});
    cleanup.add(() => socket.destroy());
    await nextEvent(socket, 'secureConnect');
    const bytes = new ByteCollector(socket);

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    socket.write(sipRequest('tls-1'));
    const [data, flow] = await received;
    assert.deepEqual(data, sipRequest('tls-1'));
    assert.equal(flow.protocol, 'tls');
    assert.equal(flow.localPort, point.port);
    assert.equal(flow.remotePort, socket.localPort);

    await transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'tls',
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
    await bytes.waitForText('200 OK');

    socket.write('\r\n\r\n');
    await bytes.waitForText('Content-Length: 0\r\n\r\n\r\n');
    assert.equal(transport.stats.keepalives, 1);
  });

  it('opens an outbound TLS connection, checking the peer certificate unless told not to', async () => {
    const server = tls.createServer(credentials);
    const arrived: Buffer[] = [];
    server.on('secureConnection', (socket) => {
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => arrived.push(chunk));
      cleanup.add(() => socket.destroy());
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as { port: number }).port;
    const target = { protocol: 'tls' as const, address: '127.0.0.1', port };

    await assert.rejects(
      layer().send(sipRequest('checked'), target),
      /cannot connect to tls:\/\/127.0.0.1:\d+: self[- ]signed certificate/,
    );

    const trusting = layer({ tlsVerifyPeer: false });
    const flow = await trusting.send(sipRequest('tls-out'), target);
    assert.equal(flow.protocol, 'tls');
    assert.equal(flow.remotePort, port);
    await eventually(
      () => Buffer.concat(arrived).includes('Call-ID: tls-out'),
      'the TLS server got the message',
    );
  });

  it('carries SIP over WSS', async () => {
    const transport = layer();
    const point = await transport.listen({ protocol: 'wss', address: '127.0.0.1', port: 0 });
    const ws = new WebSocket(`wss://127.0.0.1:${point.port}/`, 'sip', { rejectUnauthorized: false });
    ws.on('error', () => {});
    cleanup.add(() => ws.terminate());
    await nextEvent(ws, 'open');

    const received = nextEvent<[Buffer, Flow]>(transport, 'message');
    ws.send(sipRequest('wss-1').toString());
    const [data, flow] = await received;
    assert.deepEqual(data, sipRequest('wss-1'));
    assert.equal(flow.protocol, 'wss');
    assert.equal(flow.localPort, point.port);

    const answer = nextEvent<[RawData]>(ws, 'message');
    await transport.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), {
      protocol: 'wss',
      address: flow.remoteAddress,
      port: flow.remotePort,
      connectionId: flow.connectionId,
    });
    assert.match((await answer)[0].toString(), /^SIP\/2.0 200 OK/);
  });

  it('refuses TLS connections past maxConnections before their handshake', async () => {
    const transport = layer({ maxConnections: 1 });
    const point = await transport.listen({ protocol: 'tls', address: '127.0.0.1', port: 0 });
    const connect = (): tls.TLSSocket => {
      const socket = tls.connect({ host: '127.0.0.1', port: point.port, rejectUnauthorized: false });
      socket.on('error', () => {});
      cleanup.add(() => socket.destroy());
      return socket;
    };
    await nextEvent(connect(), 'secureConnect');
    await eventually(() => transport.stats.connectionsOpen === 1, 'the first connection is open');
    const second = connect();
    let secured = false;
    second.on('secureConnect', () => (secured = true));
    await socketClosed(second);
    assert.equal(secured, false);
    assert.equal(transport.stats.connectionsOpen, 1);
  });

  it('close() does not wait for peers stuck in a TLS or WSS handshake', async () => {
    const transport = layer();
    const points = [
      await transport.listen({ protocol: 'tls', address: '127.0.0.1', port: 0 }),
      await transport.listen({ protocol: 'wss', address: '127.0.0.1', port: 0 }),
    ];
    const stuck = await Promise.all(points.map((point) => connectTcp(point.port)));
    for (const socket of stuck) cleanup.add(() => socket.destroy());
    const allClosed = Promise.all(stuck.map((socket) => socketClosed(socket)));
    await transport.close();
    await allClosed;
  });

  it('refuses tls:// and wss:// listeners without a certificate', async () => {
    const transport = new TransportLayer();
    cleanup.add(() => transport.close());
    await assert.rejects(
      transport.listen({ protocol: 'tls', address: '127.0.0.1', port: 0 }),
      /listener tls:\/\/127.0.0.1:0 needs the tls option/,
    );
    await assert.rejects(
      transport.listen({ protocol: 'wss', address: '127.0.0.1', port: 0 }),
      /listener wss:\/\/127.0.0.1:0 needs the tls option/,
    );
    assert.deepEqual(transport.listeningPoints(), []);
  });
});
