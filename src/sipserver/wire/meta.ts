import type { Flow } from '../transport/types';

/** drachtio reports WS as tcp and WSS as tls (sofia's view of the socket). */
export function wireProtocol(flow: Flow): string {
  switch (flow.protocol) {
    case 'ws':
      return 'tcp';
    case 'wss':
      return 'tls';
    default:
      return flow.protocol;
  }
}

/** `HH:MM:SS.micro` in UTC, as drachtio-server stamps messages. */
export function stackTime(date = new Date()): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds() * 1000, 6)}`;
}

/** The `source|bytes|protocol|address|port|time` block of a `sip` notice or an `OK` echo. */
export function metaBlock(source: 'network' | 'application', bytes: number, flow: Flow): string {
  return `${source}|${bytes}|${wireProtocol(flow)}|${flow.remoteAddress}|${flow.remotePort}|${stackTime()}`;
}
