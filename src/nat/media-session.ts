import { isIP } from 'node:net';
import * as sdpTransform from 'sdp-transform';
import { AddressClassifier } from './address-class';
import type { AnchorPolicy } from './config';
import { ngOptionsFor, type LegProfile, type NgOptions } from './media-profiles';
import { inspectSdp, parseStrict, type SdpSummary } from './sdp-inspect';
import type { LegStats, SdpResult } from './rtpengine-pool';

/** The part of RtpenginePool a media session needs. */
export interface NgController {
  offer(options: NgOptions & { sdp: string }): Promise<SdpResult>;
  answer(options: NgOptions & { sdp: string }): Promise<SdpResult>;
  delete(callId: string): Promise<void>;
  query(callId: string): Promise<{ legs: LegStats[] }>;
}

export type Side = 'caller' | 'callee';

export interface SdpHop {
  sdp: string;
  /** The side whose SIP message carried this SDP. */
  from: Side;
  /** That side's dialog tag. */
  tag: string;
  /** Source address of the SIP message that carried it. */
  sipSource: string;
}

export interface AnchorDecision {
  anchor: boolean;
  reason: string;
}

/** Whether a call's media must go through rtpengine, decided on its first offer. */
export function decideAnchoring(
  policy: AnchorPolicy,
  offer: SdpSummary,
  offerer: LegProfile,
  answerer: LegProfile,
  sipSource: string,
): AnchorDecision {
  if (policy === 'always') return { anchor: true, reason: 'policy always' };
  if (policy === 'never') return { anchor: false, reason: 'policy never' };
  if ((offerer.kind === 'webrtc') !== (answerer.kind === 'webrtc'))
    return { anchor: true, reason: 'WebRTC and SIP legs need DTLS-SRTP to RTP conversion' };
  if (offer.privateAddresses.some((p) => p.where !== 'candidate' && p.where !== 'candidate-raddr'))
    return { anchor: true, reason: `offer carries unreachable address ${offer.privateAddresses[0].address}` };
  const elsewhere = offer.media.find(
    (m) => m.port !== 0 && m.connection !== '0.0.0.0' && m.connection !== sipSource,
  );
  if (offerer.kind !== 'pbx' && elsewhere)
    return {
      anchor: true,
      reason: `offer media address ${elsewhere.connection} differs from SIP source ${sipSource}`,
    };
  if (answerer.kind === 'nat-phone') return { anchor: true, reason: 'answering leg is a NATed phone' };
  return { anchor: false, reason: 'no NAT seen' };
}

/**
 * For unanchored calls: replaces unreachable c=, o= and a=rtcp addresses with the address the SIP
 * came from, so symmetric-RTP endpoints can reach each other directly. ICE candidates are left alone.
 */
export function rewriteUnreachable(
  sdp: string,
  sourceAddress: string,
  classifier = new AddressClassifier(),
): string {
  const session = parseStrict(sdp);
  const version = isIP(sourceAddress) === 6 ? 6 : 4;
  const replaceable = (address: string | undefined) =>
    address !== undefined &&
    classifier.classify(address) !== 'unspecified' &&
    classifier.isUnreachable(address);
  if (session.origin && replaceable(session.origin.address)) {
    session.origin.address = sourceAddress;
    session.origin.ipVer = version;
  }
  if (session.connection && replaceable(session.connection.ip))
    session.connection = { version, ip: sourceAddress };
  for (const media of session.media) {
    if (media.connection && replaceable(media.connection.ip))
      media.connection = { version, ip: sourceAddress };
    if (media.rtcp?.address !== undefined && replaceable(media.rtcp.address)) {
      media.rtcp.address = sourceAddress;
      media.rtcp.ipVer = version;
    }
  }
  return sdpTransform.write(session);
}

export interface MediaSessionOptions {
  callId: string;
  policy: AnchorPolicy;
  caller: LegProfile;
  callee: LegProfile;
  ng: NgController;
  classifier?: AddressClassifier;
}

interface PendingOffer {
  from: Side;
  tag: string;
}

/** The media side of one SIP call: every SDP of the call passes through here on its way across. */
export class MediaSession {
  private decision?: AnchorDecision;
  private pending?: PendingOffer;
  private readonly tags: Partial<Record<Side, string>> = {};
  private deleted = false;
  private readonly classifier: AddressClassifier;

  constructor(private readonly options: MediaSessionOptions) {
    this.classifier = options.classifier ?? new AddressClassifier();
  }

  get anchoring(): AnchorDecision | undefined {
    return this.decision;
  }

  /** Returns the SDP to forward to the other side. */
  async offer(hop: SdpHop): Promise<string> {
    const summary = inspectSdp(hop.sdp, this.classifier);
    const [from, to] = this.legs(hop.from);
    this.decision ??= decideAnchoring(this.options.policy, summary, from, to, hop.sipSource);
    this.tags[hop.from] = hop.tag;
    this.pending = { from: hop.from, tag: hop.tag };
    if (!this.decision.anchor) return this.passThrough(hop, from);
    const other = this.tags[opposite(hop.from)];
    const ids = { callId: this.options.callId, fromTag: hop.tag, toTag: other };
    const result = await this.options.ng.offer({ ...ngOptionsFor('offer', from, to, ids), sdp: hop.sdp });
    return result.sdp;
  }

  /**
   * The offer stays open after an answer: an early answer (183) is often followed by the final
   * one (200), and rtpengine takes both.
   */
  async answer(hop: SdpHop): Promise<string> {
    const offer = this.pending;
    if (!offer || offer.from === hop.from)
      throw new Error(`answer from ${hop.from} without an offer from the other side`);
    const [from, to] = this.legs(hop.from);
    inspectSdp(hop.sdp, this.classifier);
    this.tags[hop.from] = hop.tag;
    if (!this.decision!.anchor) return this.passThrough(hop, from);
    const ids = { callId: this.options.callId, fromTag: offer.tag, toTag: hop.tag };
    const result = await this.options.ng.answer({ ...ngOptionsFor('answer', from, to, ids), sdp: hop.sdp });
    return result.sdp;
  }

  /** Per-leg packet counters from rtpengine; null when the call was not anchored or is gone. */
  async stats(): Promise<LegStats[] | null> {
    if (!this.decision?.anchor || this.deleted) return null;
    return (await this.options.ng.query(this.options.callId)).legs;
  }

  /** Releases rtpengine's ports; safe to call more than once and on calls that were never anchored. */
  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    if (this.decision?.anchor) await this.options.ng.delete(this.options.callId);
  }

  private legs(from: Side): [LegProfile, LegProfile] {
    const { caller, callee } = this.options;
    return from === 'caller' ? [caller, callee] : [callee, caller];
  }

  private passThrough(hop: SdpHop, leg: LegProfile): string {
    return leg.kind === 'pbx' ? hop.sdp : rewriteUnreachable(hop.sdp, hop.sipSource, this.classifier);
  }
}

function opposite(side: Side): Side {
  return side === 'caller' ? 'callee' : 'caller';
}
