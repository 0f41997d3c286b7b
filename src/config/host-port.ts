/** `HOST:PORT` as pinhole.yaml and the command line write it: an IPv6 host in brackets. */
export const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):([0-9]{1,5})$/;

export interface HostPort {
  /** Without brackets, as node's listen() and connect() take it. */
  host: string;
  port: number;
}

/** Null when the text is not HOST:PORT or the port is above 65535; port 0 is left to the caller. */
export function parseHostPort(text: string): HostPort | null {
  const match = HOST_PORT.exec(text);
  if (!match) return null;
  const port = Number(match[2]);
  if (port > 65535) return null;
  const host = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1];
  return { host, port };
}
