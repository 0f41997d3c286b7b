import type { AddressClassifier } from '../nat/address-class';
import type { NatVerdict } from './types';

export interface NatEvidence {
  contactHost: string;
  contactPort: number | null;
  viaHost: string;
  viaPort: number | null;
  sourceAddress: string;
  sourcePort: number;
  /** Streams use ephemeral source ports, so only hosts are compared there. */
  stream: boolean;
  /** Default port for the transport (5060, or 5061 for TLS) when a URI or Via omits it. */
  defaultPort: number;
}

function sameHost(a: string, b: string): boolean {
  const strip = (h: string) =>
    h
      .replace(/^\[|\]$/g, '')
      .toLowerCase()
      .replace(/^::ffff:/, '');
  return strip(a) === strip(b);
}

/**
 * Decides whether a phone sits behind NAT, the way Kamailio's nat_uac_test and drachtio do:
 * an address nobody outside can reach in Contact or Via, or a Contact/Via that is not where
 * the packet came from. An unreachable address that *is* the packet source is our own LAN,
 * not NAT.
 */
export function natVerdict(evidence: NatEvidence, classifier: AddressClassifier): NatVerdict {
  const reasons: string[] = [];
  const { sourceAddress, sourcePort } = evidence;
  const checkHost = (label: 'contact' | 'via', host: string, port: number | null) => {
    const kind = classifier.classify(host);
    if (kind === 'hostname') {
      // WebSocket clients send `xyz.invalid`; any name means we route by flow, not by Contact.
      reasons.push(`${label}-hostname:${host}`);
      return;
    }
    const matchesSource = sameHost(host, sourceAddress);
    if (!matchesSource) {
      if (classifier.isUnreachable(host)) reasons.push(`${label}-${kind}:${host}`);
      else reasons.push(`${label}-differs-from-source`);
      return;
    }
    if (!evidence.stream && (port ?? evidence.defaultPort) !== sourcePort)
      reasons.push(`${label}-port-differs-from-source`);
  };
  checkHost('contact', evidence.contactHost, evidence.contactPort);
  checkHost('via', evidence.viaHost, evidence.viaPort);
  return { natted: reasons.length > 0, reasons };
}
