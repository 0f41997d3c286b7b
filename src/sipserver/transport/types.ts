export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a listener is bound. */
export interface ListeningPoint {
  protocol: TransportProtocol;
  address: string;
  port: number;
}

/**
 * The path a message came on or goes out on: the packet source (or connection peer) and the
 * local listener. For connection-oriented transports `connectionId` names the connection.
 */
export interface Flow {
  protocol: TransportProtocol;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  connectionId?: string;
}

/** Where to send: a connection id is used when that connection is still open. */
export interface SendTarget {
  protocol: TransportProtocol;
  address: string;
  port: number;
  connectionId?: string;
  /**
   * The local listener to send from, usually the flow a request came in on: a UDP response must
   * leave from the port the request reached (RFC 3261 §18.2.2) or a NAT will drop it.
   */
  localAddress?: string;
  localPort?: number;
}

/** True for transports where one lost packet is not retransmitted by the network. */
export function isReliable(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

/** The upper-case token for a Via header (RFC 3261 §20.42, RFC 7118 §5.2). */
export function viaTransport(protocol: TransportProtocol): string {
  return protocol.toUpperCase();
}

/** The one seam from the SIP layers to the network. */
export interface MessageSender {
  /** Sends bytes; resolves with the flow actually used (a new connection may be opened). */
  send(data: Buffer, target: SendTarget): Promise<Flow>;
}
