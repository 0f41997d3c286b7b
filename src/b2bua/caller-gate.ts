import { parseCidr } from '../nat/address-class';
import { NetworkSet } from '../nat/network-set';
import type { DigestAuthenticator } from '../registrar/authenticator';
import type { LookupTarget } from '../registrar';

/** What the gate reads from an incoming INVITE. */
export interface InviteOrigin {
  sourceAddress: string;
  sourcePort: number;
  fromUser: string | null;
  fromDomain: string;
  proxyAuthorization: string | undefined;
  /** Browsers (SIP.js over WebSocket) read only the last of several digest challenges. */
  readsLastChallenge: boolean;
}

export type Admission =
  | { admitted: true; kind: 'pbx' }
  | { admitted: true; kind: 'phones'; user: string; proof: 'digest' | 'registered-flow' }
  | {
      admitted: false;
      status: number;
      reason: string;
      headers: Record<string, string[]>;
      /** Why, for the log; never sent. */
      detail: string;
    };

export interface CallerGateOptions {
  /** pbx.networks plus the PBX's own address. */
  pbxNetworks: readonly string[];
  /** null: phones prove themselves by calling from their registered flow. */
  authenticator: DigestAuthenticator | null;
  lookup(aor: string): Promise<LookupTarget[]>;
  now?: () => number;
}

/**
 * Decides who may place a call: the PBX by its network, phones by digest credentials or by
 * their registered flow. Everyone else is refused, so Pinhole never relays for strangers.
 */
export class CallerGate {
  private readonly pbx: NetworkSet;

  constructor(private readonly options: CallerGateOptions) {
    this.pbx = new NetworkSet(options.pbxNetworks.map(parseCidr));
  }

  isPbx(address: string): boolean {
    return this.pbx.has(address);
  }

  async admit(origin: InviteOrigin): Promise<Admission> {
    if (this.isPbx(origin.sourceAddress)) return { admitted: true, kind: 'pbx' };
    if (!origin.fromUser) return refuse(403, 'Forbidden', 'INVITE without a From user');
    const authenticator = this.options.authenticator;
    if (authenticator) {
      const verdict = authenticator.check(
        'INVITE',
        origin.proxyAuthorization,
        origin.fromUser,
        (this.options.now ?? Date.now)(),
        origin.readsLastChallenge,
      );
      if (verdict.kind === 'ok')
        return { admitted: true, kind: 'phones', user: verdict.user, proof: 'digest' };
      if (verdict.kind === 'challenge')
        return {
          admitted: false,
          status: 407,
          reason: 'Proxy Authentication Required',
          headers: { 'Proxy-Authenticate': verdict.challenges },
          detail: verdict.reason,
        };
      return refuse(403, 'Forbidden', verdict.reason);
    }
    const targets = await this.options.lookup(`${origin.fromUser}@${origin.fromDomain}`);
    const onFlow = targets.some(
      (t) => t.flow.sourceAddress === origin.sourceAddress && t.flow.sourcePort === origin.sourcePort,
    );
    if (onFlow) return { admitted: true, kind: 'phones', user: origin.fromUser, proof: 'registered-flow' };
    return refuse(
      403,
      'Forbidden',
      targets.length > 0
        ? `${origin.fromUser} is registered from another address`
        : `${origin.fromUser} is not registered`,
    );
  }
}

function refuse(status: number, reason: string, detail: string): Admission {
  return { admitted: false, status, reason, headers: {}, detail };
}
