import * as dgram from 'node:dgram';
import * as net from 'node:net';
import WebSocket from 'ws';
import { parseMessage, StreamFramer, type AnySipMessage } from '../../../src/sipserver/message';

/**
 * The softphone's one connection to its outbound proxy (Pinhole): a UDP socket, a TCP connection
 * or a SIP-over-WebSocket connection (RFC 7118). Everything the phone sends goes to the proxy and
 * everything it receives comes back over the same flow, as a phone behind NAT must work.
 */
export type LinkTransport = 'udp' | 'tcp' | 'ws';

export interface LinkOptions {
  transport: LinkTransport;
  localAddress: string;
  /** UDP only: the port to bind (0 = any). Streams always use an ephemeral port. */
  localPort: number;
  server: { host: string; port: number };
}

export interface SipLink {
  transport: LinkTransport;
  /** Via/Contact transport token: UDP, TCP or WS. */
  viaTransport: string;
  localAddress: string;
  localPort: number;
  send(message: AnySipMessage): void;
  close(): void;
}

const MAX_MESSAGE = 65535;

export async function openLink(
  options: LinkOptions,
  onMessage: (message: AnySipMessage) => void,
  onError: (error: Error) => void,
): Promise<SipLink> {
  const deliver = (data: Buffer, stream: boolean) => {
    try {
      onMessage(parseMessage(data, { stream }));
    } catch (error) {
      onError(new Error(`unparsable SIP from the proxy: ${(error as Error).message}`));
    }
  };
  switch (options.transport) {
    case 'udp':
      return openUdp(options, (data) => deliver(data, false), onError);
    case 'tcp':
      return openTcp(options, (data) => deliver(data, true), onError);
    case 'ws':
      return openWs(options, (data) => deliver(data, true), onError);
  }
}

function openUdp(
  options: LinkOptions,
  onData: (data: Buffer) => void,
  onError: (error: Error) => void,
): Promise<SipLink> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (data) => onData(data));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: options.localAddress, port: options.localPort }, () => {
      socket.off('error', reject);
      socket.on('error', onError);
      resolve({
        transport: 'udp',
        viaTransport: 'UDP',
        localAddress: options.localAddress,
        localPort: socket.address().port,
        send: (message) => socket.send(message.toBuffer(), options.server.port, options.server.host),
        close: () => socket.close(),
      });
    });
  });
}

function openTcp(
  options: LinkOptions,
  onData: (data: Buffer) => void,
  onError: (error: Error) => void,
): Promise<SipLink> {
  const framer = new StreamFramer(MAX_MESSAGE);
  const socket = net.connect({
    host: options.server.host,
    port: options.server.port,
    localAddress: options.localAddress,
  });
  socket.on('data', (chunk: Buffer) => {
    for (const event of framer.push(chunk)) {
      if (event.kind === 'message') onData(event.data);
      else if (event.kind === 'error') onError(new Error(`TCP framing: ${event.reason}`));
    }
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', onError);
      resolve({
        transport: 'tcp',
        viaTransport: 'TCP',
        localAddress: options.localAddress,
        localPort: socket.localPort ?? 0,
        send: (message) => socket.write(message.toBuffer()),
        close: () => socket.destroy(),
      });
    });
  });
}

function openWs(
  options: LinkOptions,
  onData: (data: Buffer) => void,
  onError: (error: Error) => void,
): Promise<SipLink> {
  const ws = new WebSocket(`ws://${options.server.host}:${options.server.port}/`, 'sip', {
    localAddress: options.localAddress,
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => onData(isBinary ? data : Buffer.from(data)));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', onError);
      resolve({
        transport: 'ws',
        viaTransport: 'WS',
        localAddress: options.localAddress,
        // RFC 7118 §5.2: a WebSocket client's Via and Contact carry a made-up .invalid host, no port.
        localPort: 0,
        send: (message) => ws.send(message.toString()),
        close: () => ws.terminate(),
      });
    });
  });
}
