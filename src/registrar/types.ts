/** How a phone reached us: where later requests must go, whatever its Contact says. */
export interface BindingFlow {
  sourceAddress: string;
  sourcePort: number;
  /** Transport of the packet as the SIP server reports it: 'udp' | 'tcp' | 'tls' (WS shows as 'tcp'). */
  protocol: string;
  /** Transport named in the top Via: UDP, TCP, TLS, WS, WSS. Tells WebSocket apart from TCP. */
  viaTransport: string;
  /** The local listener the request arrived on, when the SIP server reports it. */
  receivedOn: string | null;
  /** Streams only: `protocol:address:port` of the connection, which is what keeps the phone reachable. */
  connection: string | null;
}

export interface NatVerdict {
  natted: boolean;
  /** Why, e.g. `contact-private:192.168.1.50`, `via-differs-from-source`. Empty when not NATed. */
  reasons: string[];
}

/** One registered contact of an AoR, with the flow it came on (RFC 3261 §10.3, RFC 5626). */
export interface Binding {
  aor: string;
  /** The Contact URI exactly as the phone sent it (echoed byte-exact in the 200). */
  contact: string;
  /** RFC 5626 `+sip.instance` (with its quotes and angle brackets as sent), or null. */
  instanceId: string | null;
  regId: number | null;
  q: string | null;
  callId: string;
  cseq: number;
  /** Epoch ms. */
  expiresAt: number;
  registeredAt: number;
  flow: BindingFlow;
  nat: NatVerdict;
  userAgent: string | null;
}

/** Where a call for an AoR should be sent, one per live binding. */
export interface LookupTarget {
  /** Request-URI: the registered Contact as sent. */
  contact: string;
  flow: BindingFlow;
  /** Next hop (drachtio-srf `proxy` option): the packet source, so the request traverses the NAT. */
  proxy: string;
  /** 'udp' | 'tcp' | 'tls' | 'ws' | 'wss'. */
  transport: string;
  natVerdict: NatVerdict;
  expiresAt: number;
}
