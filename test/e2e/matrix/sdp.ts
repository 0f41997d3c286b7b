/**
 * The one-stream PCMU SDP the lab's phones offer and answer, and the one fact read back from a
 * peer's SDP: where to send the audio.
 */
export interface MediaAddress {
  host: string;
  port: number;
  /** The m= line's transport protocol, e.g. RTP/AVP or UDP/TLS/RTP/SAVPF. */
  protocol?: string;
}

export function audioSdp(address: string, port: number, sessionId: number): string {
  return [
    'v=0',
    `o=- ${sessionId} 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** The audio stream's connection address (media-level c= over session-level) and port. */
export function audioTarget(sdp: string): MediaAddress | null {
  let sessionHost: string | null = null;
  let mediaHost: string | null = null;
  let port: number | null = null;
  let protocol: string | undefined;
  let inAudio = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      if (port !== null) break;
      const audio = /^m=audio (\d+) (\S+)/.exec(line);
      inAudio = audio !== null;
      if (audio) {
        port = Number(audio[1]);
        protocol = audio[2];
      }
    } else if (line.startsWith('c=')) {
      const host = /^c=IN IP4 (\S+)/.exec(line)?.[1] ?? null;
      if (port === null && !inAudio) sessionHost = host;
      else if (inAudio) mediaHost = host;
    }
  }
  const host = mediaHost ?? sessionHost;
  return host !== null && port !== null ? { host, port, protocol } : null;
}
