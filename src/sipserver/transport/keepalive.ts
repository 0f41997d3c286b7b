/** RFC 5626 §4.4.1: a double CRLF is a ping, answered by a single CRLF (the pong). */
export const CRLF_PONG = Buffer.from('\r\n');

/**
 * True for a datagram or WebSocket message made only of CR and LF: a keepalive ping or pong,
 * never a SIP message. Empty datagrams, sent by some NAT keepalive schemes, count too.
 */
export function isKeepalive(data: Buffer): boolean {
  for (const byte of data) if (byte !== 0x0d && byte !== 0x0a) return false;
  return true;
}

/** A keepalive carrying a double CRLF asks for a pong; a lone CRLF is itself the pong. */
export function asksForPong(keepalive: Buffer): boolean {
  return keepalive.length >= 4;
}
