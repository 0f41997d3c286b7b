/**
 * What rtpengine must do for each kind of leg, as data. Flag choices follow what was measured with
 * rtpengine 10.5 (../shared/notes/rtpengine.md): `direction` always sent, `replace` in offer and
 * answer, ICE removed toward RTP-only legs, rtcp-mux demuxed toward SIP and required toward browsers.
 */

/** A NATed SIP phone with plain RTP, a WebRTC client (DTLS-SRTP, ICE, rtcp-mux), or the PBX. */
export type LegKind = 'nat-phone' | 'webrtc' | 'pbx';

/**
 * `strict-source`: once learned, media from any other source is dropped (anti RTP-bleed).
 * `media-handover`: follow the peer to a new source (roaming phones), at the cost of hijackability.
 */
export type LatchingPolicy = 'strict-source' | 'media-handover';

export interface LegProfile {
  kind: LegKind;
  /** rtpengine interface name (from --interface=NAME/ADDR) facing this leg. */
  interfaceName: string;
  /** How rtpengine treats this leg's incoming media; ignored for the PBX, which is trusted. */
  latching: LatchingPolicy;
  /** Keep rtpengine's port toward the other side when this leg re-INVITEs with a new port. */
  portLatching: boolean;
  /**
   * Where this leg's SIP came from. When set, rtpengine sends to that address (with the SDP port)
   * before the first RTP packet arrives, so early media can reach port-preserving NATs.
   */
  sipSource?: { family: 'IP4' | 'IP6'; address: string };
}

export interface NgCallIds {
  callId: string;
  /** Tag of the leg that sent the offer of this offer/answer exchange. */
  fromTag: string;
  /** Tag of the leg answering it; absent for an initial offer. */
  toTag?: string;
}

export type IceMode = 'remove' | 'force';
export type IceLiteMode = 'forward' | 'backward' | 'both';
export type RtcpMuxFlag = 'offer' | 'require' | 'demux' | 'accept';
export type TransportProtocol = 'RTP/AVP' | 'UDP/TLS/RTP/SAVPF';

/** The ng dictionary for an offer or answer, without the `sdp` itself. */
export interface NgOptions {
  'call-id': string;
  'from-tag': string;
  'to-tag'?: string;
  direction?: [string, string];
  replace: ['origin', 'session-connection'];
  ICE: IceMode;
  'ICE-lite'?: IceLiteMode;
  'rtcp-mux': RtcpMuxFlag[];
  'transport-protocol'?: TransportProtocol;
  SDES?: ['off'];
  flags?: string[];
  'received-from'?: [string, string];
}

export interface InterfaceNames {
  external: string;
  internal: string;
}

export interface LegOptions {
  latching?: LatchingPolicy;
  portLatching?: boolean;
  sipSource?: LegProfile['sipSource'];
}

/** The profile of a leg of the given kind: phones and browsers face outward, the PBX inward. */
export function legProfile(kind: LegKind, interfaces: InterfaceNames, options: LegOptions = {}): LegProfile {
  const profile: LegProfile = {
    kind,
    interfaceName: kind === 'pbx' ? interfaces.internal : interfaces.external,
    latching: options.latching ?? 'strict-source',
    portLatching: options.portLatching ?? kind !== 'pbx',
  };
  if (options.sipSource) profile.sipSource = options.sipSource;
  return profile;
}

const speaksIce = (leg: LegProfile) => leg.kind === 'webrtc';

function iceLite(from: LegProfile, to: LegProfile): IceLiteMode | undefined {
  if (speaksIce(from) && speaksIce(to)) return 'both';
  if (speaksIce(to)) return 'forward';
  if (speaksIce(from)) return 'backward';
  return undefined;
}

/** Convert only where the two sides differ: SIP legs get RTP/AVP, browsers get DTLS-SRTP. */
function transportProtocol(from: LegProfile, to: LegProfile): TransportProtocol | undefined {
  if (speaksIce(from) === speaksIce(to)) return undefined;
  return speaksIce(to) ? 'UDP/TLS/RTP/SAVPF' : 'RTP/AVP';
}

function rtcpMux(direction: 'offer' | 'answer', to: LegProfile): RtcpMuxFlag[] {
  if (!speaksIce(to)) return ['demux'];
  return direction === 'offer' ? ['offer', 'require'] : ['require'];
}

/** Flags about the media the sending leg will emit: latching and early-media targeting. */
function senderFlags(from: LegProfile): string[] {
  if (from.kind === 'pbx') return [];
  const flags: string[] = [from.latching];
  if (from.portLatching) flags.push('port-latching');
  if (from.sipSource) flags.push('SIP-source-address');
  return flags;
}

/**
 * The ng options for an SDP travelling from the `from` leg to the `to` leg. In an offer `from` is
 * the offerer; in an answer `from` is the answerer and `to` the original offerer.
 */
export function ngOptionsFor(
  direction: 'offer' | 'answer',
  from: LegProfile,
  to: LegProfile,
  ids: NgCallIds,
): NgOptions {
  const options: NgOptions = {
    'call-id': ids.callId,
    'from-tag': ids.fromTag,
    replace: ['origin', 'session-connection'],
    ICE: speaksIce(to) ? 'force' : 'remove',
    'rtcp-mux': rtcpMux(direction, to),
  };
  if (ids.toTag !== undefined) options['to-tag'] = ids.toTag;
  if (direction === 'offer') {
    // A missing or misspelt direction silently falls back to the first interface.
    options.direction = [from.interfaceName, to.interfaceName];
    const lite = iceLite(from, to);
    if (lite) options['ICE-lite'] = lite;
    // Without this rtpengine adds a dozen a=crypto lines next to the DTLS fingerprint.
    if (speaksIce(to)) options.SDES = ['off'];
  }
  const protocol = transportProtocol(from, to);
  if (protocol) options['transport-protocol'] = protocol;
  const flags = senderFlags(from);
  if (flags.length > 0) options.flags = flags;
  if (from.sipSource) options['received-from'] = [from.sipSource.family, from.sipSource.address];
  return options;
}
