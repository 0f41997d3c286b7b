import * as dgram from 'node:dgram';
import * as net from 'node:net';

/**
 * Free ports for test peers. Ports come from 40000-49999, far from the usual SIP and ephemeral
 * ranges; each process starts at an offset derived from its pid so parallel test runs walk
 * different stretches of the range instead of racing for the same numbers.
 */
const RANGE_START = 40000;
const RANGE_SIZE = 10000;
const LOOPBACK = '127.0.0.1';

// Consecutive pids (typical for runs started together) land 97 ports apart.
let cursor = (process.pid * 97) % RANGE_SIZE;
const handedOut = new Set<number>();

export function isUdpPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ port, address: host, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

export function isTcpPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port that is free for both UDP and TCP on 127.0.0.1 and not yet handed out by this process. */
export async function allocatePort(): Promise<number> {
  for (let attempt = 0; attempt < RANGE_SIZE; attempt++) {
    const port = RANGE_START + cursor;
    cursor = (cursor + 1) % RANGE_SIZE;
    if (handedOut.has(port)) continue;
    if ((await isUdpPortFree(port)) && (await isTcpPortFree(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${RANGE_START}-${RANGE_START + RANGE_SIZE - 1}`);
}
