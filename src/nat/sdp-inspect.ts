import * as sdpTransform from 'sdp-transform';
import { AddressClassifier, type AddressClass } from './address-class';

/** How a leg carries media: plain RTP, SRTP keyed in SDP (RFC 4568), or DTLS-SRTP with ICE. */
export type MediaTransportKind = 'rtp' | 'srtp-sdes' | 'webrtc';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Where in the SDP an address was found. */
export type AddressLocation =
  'session-connection' | 'media-connection' | 'origin' | 'candidate' | 'candidate-raddr' | 'rtcp';

export interface FoundAddress {
  address: string;
  class: AddressClass;
  where: AddressLocation;
  /** Index of the m= section, absent for session-level lines. */
  media?: number;
}

export interface CandidateSummary {
  foundation: string;
  component: number;
  transport: string;
  address: string;
  port: number;
  type: string;
  relatedAddress?: string;
  relatedPort?: number;
}

export interface MediaSummary {
  index: number;
  type: string;
  port: number;
  protocol: string;
  /** The address media is sent to: the m= section's c=, else the session c=. */
  connection: string;
  connectionAtMediaLevel: boolean;
  direction: MediaDirection;
  mid?: string;
  rtcp?: { port: number; address?: string };
  rtcpMux: boolean;
  iceUfrag?: string;
  icePwd?: string;
  candidates: CandidateSummary[];
  fingerprint?: { hash: string; value: string };
  setup?: string;
  cryptoSuites: string[];
  /** The peer will send first and expects its source to be learned (a=direction:active or port 9 without ICE). */
  comedia: boolean;
}

export interface SdpSummary {
  origin: { username: string; sessionId: string; version: string; address: string };
  sessionConnection?: string;
  iceLite: boolean;
  bundle: string[];
  media: MediaSummary[];
  kind: MediaTransportKind;
  /** Addresses nobody outside the sender's network can reach, with where each was found. */
  privateAddresses: FoundAddress[];
}

export class SdpInspectError extends Error {
  override readonly name = 'SdpInspectError';
}

const LINE = /^[a-zA-Z]=/;
const DISCARD_PORT = 9;

type ParsedMedia = sdpTransform.MediaDescription & { invalid?: { value: string }[] };
type ParsedSession = sdpTransform.SessionDescription & { invalid?: { value: string }[] };

/** Reads an SDP body and reports what NAT handling and media anchoring need to know about it. */
export function inspectSdp(sdp: string, classifier = new AddressClassifier()): SdpSummary {
  const session = parseStrict(sdp);
  const origin = session.origin!;
  const media = session.media.map((m, index) => summariseMedia(session, m as ParsedMedia, index));
  return {
    origin: {
      username: origin.username,
      sessionId: String(origin.sessionId),
      version: String(origin.sessionVersion),
      address: origin.address,
    },
    sessionConnection: session.connection?.ip,
    iceLite: session.icelite === 'ice-lite',
    bundle: (session.groups ?? [])
      .filter((group) => group.type === 'BUNDLE')
      // sdp-transform turns a single numeric mid (BUNDLE 0) into a number.
      .flatMap((group) => String(group.mids).split(' ').filter(Boolean)),
    media,
    kind: transportKind(media),
    privateAddresses: findUnreachable(session, media, classifier),
  };
}

/** sdp-transform accepts nearly anything; this refuses bodies that are not SDP at all. */
export function parseStrict(sdp: string): ParsedSession {
  const lines = sdp.split(/\r?\n/).filter((line) => line.length > 0);
  if (lines.length === 0) throw new SdpInspectError('SDP is empty');
  if (lines[0] !== 'v=0')
    throw new SdpInspectError(`SDP must start with v=0, got "${lines[0].slice(0, 40)}"`);
  const bad = lines.find((line) => !LINE.test(line));
  if (bad !== undefined) throw new SdpInspectError(`not an SDP line: "${bad.slice(0, 40)}"`);
  const session = sdpTransform.parse(sdp) as ParsedSession;
  if (!session.origin || session.origin.address === undefined || session.origin.address === '')
    throw new SdpInspectError('SDP has no valid o= line');
  session.media.forEach((m, index) => {
    if (!Number.isInteger(m.port) || m.port < 0 || m.port > 65535 || !m.protocol)
      throw new SdpInspectError(`m= line ${index} has no valid port and protocol`);
    if (!m.connection?.ip && !session.connection?.ip)
      throw new SdpInspectError(`m= line ${index} has no c= line and the session has none`);
  });
  return session;
}

function summariseMedia(session: ParsedSession, m: ParsedMedia, index: number): MediaSummary {
  const direction = (m.direction ?? session.direction ?? 'sendrecv') as MediaDirection;
  const iceUfrag = m.iceUfrag ?? session.iceUfrag;
  const fingerprint = m.fingerprint ?? session.fingerprint;
  const setup = m.setup ?? session.setup;
  const activeDirection = (m.invalid ?? []).some((attr) => attr.value.trim() === 'direction:active');
  return {
    index,
    type: m.type,
    port: m.port,
    protocol: m.protocol,
    connection: (m.connection?.ip ?? session.connection?.ip)!,
    connectionAtMediaLevel: m.connection !== undefined,
    direction,
    mid: m.mid === undefined ? undefined : String(m.mid),
    rtcp: m.rtcp ? { port: m.rtcp.port, address: m.rtcp.address } : undefined,
    rtcpMux: m.rtcpMux === 'rtcp-mux',
    iceUfrag,
    icePwd: m.icePwd ?? session.icePwd,
    candidates: (m.candidates ?? []).map((c) => ({
      foundation: String(c.foundation),
      component: c.component,
      transport: c.transport,
      address: c.ip,
      port: c.port,
      type: c.type,
      relatedAddress: c.raddr,
      relatedPort: c.rport,
    })),
    fingerprint: fingerprint ? { hash: fingerprint.type, value: fingerprint.hash } : undefined,
    setup,
    cryptoSuites: (m.crypto ?? []).map((c) => c.suite),
    comedia: activeDirection || (m.port === DISCARD_PORT && iceUfrag === undefined),
  };
}

/** The most demanding transport any RTP section uses decides what the leg needs. */
function transportKind(media: MediaSummary[]): MediaTransportKind {
  const rtpSections = media.filter((m) => m.protocol.includes('RTP'));
  if (rtpSections.some((m) => m.protocol.startsWith('UDP/TLS/') || m.fingerprint !== undefined))
    return 'webrtc';
  if (rtpSections.some((m) => m.protocol.includes('SAVP') || m.cryptoSuites.length > 0)) return 'srtp-sdes';
  return 'rtp';
}

function findUnreachable(
  session: ParsedSession,
  media: MediaSummary[],
  classifier: AddressClassifier,
): FoundAddress[] {
  const found: FoundAddress[] = [];
  const note = (address: string | undefined, where: AddressLocation, index?: number) => {
    if (address === undefined) return;
    const kind = classifier.classify(address);
    // 0.0.0.0 and :: are placeholders (hold, trickle ICE), not an address anyone must reach.
    if (kind === 'unspecified' || !classifier.isUnreachable(address)) return;
    found.push(
      index === undefined ? { address, class: kind, where } : { address, class: kind, where, media: index },
    );
  };
  note(session.origin?.address, 'origin');
  note(session.connection?.ip, 'session-connection');
  for (const m of media) {
    if (m.connectionAtMediaLevel) note(m.connection, 'media-connection', m.index);
    note(m.rtcp?.address, 'rtcp', m.index);
    for (const candidate of m.candidates) {
      note(candidate.address, 'candidate', m.index);
      note(candidate.relatedAddress, 'candidate-raddr', m.index);
    }
  }
  return found;
}
