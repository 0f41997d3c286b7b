import * as dgram from 'node:dgram';
import { addressFamily, normalizeAddress } from './address';
import type { TransportContext } from './connection';
import { isKeepalive } from './keepalive';
import { formatListenUrl } from './listen-url';
import type { Flow, ListeningPoint, SendTarget } from './types';
import type { LocalRoutes } from './local-routes';

/** One UDP socket bound to one listening point: each datagram is one SIP message (RFC 3261 §18.3). */
const UDP_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

export class UdpListener {
  private closed = false;

  private constructor(
    readonly point: ListeningPoint,
    private readonly socket: dgram.Socket,
    private readonly context: TransportContext,
  ) {
    socket.on('message', (datagram, remote) => this.receive(datagram, remote));
    socket.on('error', (err) =>
      context.options.logger.warn('udp socket error', {
        listener: formatListenUrl(point),
        error: err.message,
      }),
    );
  }

  static open(point: ListeningPoint, context: TransportContext): Promise<UdpListener> {
    const type = addressFamily(point.address) === 6 ? 'udp6' : 'udp4';
    // Bursts of calls overflow the kernel's default 208 KB receive buffer long before the CPU is
    // busy, and every dropped datagram costs a 500 ms retransmission. The kernel caps the size
    // at net.core.rmem_max.
    const socket = dgram.createSocket({ type, recvBufferSize: UDP_RECEIVE_BUFFER_BYTES });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address: point.address, port: point.port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        const bound = { ...point, port: socket.address().port };
        resolve(new UdpListener(bound, socket, context));
      });
    });
  }

  /** True when this socket can reach an address of that family (a dual-stack `::` reaches IPv4 too). */
  canReach(family: 4 | 6): boolean {
    const own = addressFamily(this.point.address);
    return own === family || (family === 4 && this.point.address === '::');
  }

  send(data: Buffer, address: string, port: number): Promise<Flow> {
    // An IPv6 socket takes IPv4 peers only in their IPv4-mapped form.
    const wireAddress =
      addressFamily(this.point.address) === 6 && addressFamily(address) === 4 ? `::ffff:${address}` : address;
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, wireAddress, (err) => {
        if (err) reject(err);
        else resolve(this.flowTo(address, port));
      });
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(datagram: Buffer, remote: dgram.RemoteInfo): void {
    const flow = this.flowTo(normalizeAddress(remote.address), remote.port);
    const { sink, options } = this.context;
    if (datagram.length > options.maxMessageSize) {
      sink.badInput(
        `datagram of ${datagram.length} bytes exceeds the maximum of ${options.maxMessageSize}`,
        flow,
      );
    } else if (isKeepalive(datagram)) {
      sink.keepalive(flow);
    } else {
      sink.message(datagram, flow);
    }
  }

  private flowTo(remoteAddress: string, remotePort: number): Flow {
    return {
      protocol: 'udp',
      localAddress: this.point.address,
      localPort: this.point.port,
      remoteAddress,
      remotePort,
    };
  }
}

/**
 * The UDP listener a message to `address` leaves from: the one the target names (responses go
 * out where the request came in, RFC 3261 §18.2.2), else one of the same address family (the one
 * on the destination's subnet when there are several), else a dual-stack `::` socket for IPv4
 * targets.
 */
export function chooseUdpListener(
  listeners: readonly UdpListener[],
  address: string,
  target: Pick<SendTarget, 'localAddress' | 'localPort'>,
  routes?: LocalRoutes,
): UdpListener | undefined {
  const family = addressFamily(address);
  if (family === 0) return undefined;
  const usable = listeners.filter((listener) => listener.canReach(family));
  const localAddress = target.localAddress === undefined ? undefined : normalizeAddress(target.localAddress);
  const rank = (listener: UdpListener): number => {
    let score = 0;
    if (target.localPort !== undefined && listener.point.port === target.localPort) score += 4;
    if (localAddress !== undefined && listener.point.address === localAddress) score += 2;
    if (addressFamily(listener.point.address) === family) score += 1;
    return score * 1e6 + (routes?.score(listener.point.address, address) ?? 0);
  };
  let best: UdpListener | undefined;
  for (const listener of usable) if (best === undefined || rank(listener) > rank(best)) best = listener;
  return best;
}
