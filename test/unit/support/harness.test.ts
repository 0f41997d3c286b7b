import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { allocatePort, isTcpPortFree, isUdpPortFree } from '../../support/ports';
import { spawnTracked, stopAll, trackedPids } from '../../support/processes';
import { parseMessageLog, startSippServer } from '../../support/sipp';

describe('test harness', function () {
  this.timeout(15000);
  after(() => stopAll());

  it('allocatePort hands out distinct ports in 40000-49999 that are free for UDP and TCP', async () => {
    const ports = [await allocatePort(), await allocatePort(), await allocatePort()];
    assert.equal(new Set(ports).size, 3);
    for (const port of ports) {
      assert.ok(port >= 40000 && port <= 49999, String(port));
      assert.ok(await isUdpPortFree(port));
      assert.ok(await isTcpPortFree(port));
    }
  });

  it('sees a port as taken while something is bound to it', async () => {
    const port = await allocatePort();
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', resolve));
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', resolve));
    try {
      assert.equal(await isUdpPortFree(port), false);
      assert.equal(await isTcpPortFree(port), false);
    } finally {
      udp.close();
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('stopAll ends tracked children, escalating to SIGKILL for ones that ignore SIGTERM', async () => {
    const stubborn = spawnTracked(process.execPath, [
      '-e',
      "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)",
    ]);
    const plain = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(trackedPids().includes(stubborn.pid!));
    await stopAll(500);
    assert.equal(stubborn.signalCode, 'SIGKILL');
    assert.equal(plain.signalCode, 'SIGTERM');
    assert.deepEqual(trackedPids(), []);
  });

  it('a SIPp server is ready once it listens, and stop() returns its result', async () => {
    const port = await allocatePort();
    const server = startSippServer({ scenario: 'uas-options.xml', localPort: port, transport: 'tcp' });
    await server.ready;
    assert.equal(await isTcpPortFree(port), false);
    const result = await server.stop();
    assert.equal(result.successfulCalls, 0);
    assert.equal(result.failedCalls, 0);
    assert.ok(await isTcpPortFree(port));
  });

  it('ready rejects when SIPp cannot start', async () => {
    const server = startSippServer({ scenario: 'no-such-scenario.xml', localPort: await allocatePort() });
    await assert.rejects(server.ready, /exited/);
    const result = await server.done;
    assert.notEqual(result.exitCode, 0);
  });

  it('parseMessageLog splits a -trace_msg log into messages', () => {
    const log = [
      '----------------------------------------------- 2026-01-01 00:00:00.000000',
      'UDP message sent (20 bytes):',
      '',
      'OPTIONS sip:a@b SIP/2.0\r',
      'CSeq: 1 OPTIONS\r',
      '\r',
      '',
      '----------------------------------------------- 2026-01-01 00:00:00.000100',
      'UDP message received [30] bytes :',
      '',
      'SIP/2.0 200 OK\r',
      'CSeq: 1 OPTIONS\r',
      '\r',
      '',
    ].join('\n');
    assert.deepEqual(parseMessageLog(log), [
      { direction: 'sent', transport: 'UDP', text: 'OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS' },
      { direction: 'received', transport: 'UDP', text: 'SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS' },
    ]);
  });
});
