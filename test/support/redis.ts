/**
 * Debian's redis-server (package redis-server) on a loopback port of the test's choosing,
 * without persistence, so a test can kill it and start it again on the same port.
 */
import type { ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { spawnTracked } from './processes';

const START_TIMEOUT_MS = 5000;

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(300, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
  });
}

/** Starts redis-server on 127.0.0.1:port and resolves once it answers PING. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawnTracked('redis-server', [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
  ]); // prettier-ignore
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
    if (await answersPing(port)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start (install it: scripts/ensure-debs.sh redis-server)');
}
