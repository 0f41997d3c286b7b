import type { LegKind } from '../nat/media-profiles';
import type { LookupTarget, NatVerdict } from '../registrar';
import type { RouteTarget } from './routing';

/** One INVITE to send: where, through which next hop, and what kind of leg answers it. */
export interface Fork {
  uri: string;
  /** Next hop when it differs from the Request-URI (a registered phone's NAT flow). */
  proxy?: string;
  kind: LegKind;
  /** Where the answering side's SIP comes from, for rtpengine's early-media targeting. */
  sipSource?: string;
  nat?: NatVerdict;
  transport: string;
}

/** Forks rung in parallel; a stage that fails over hands the call to the next stage. */
export interface Stage {
  forks: Fork[];
  /** How long a target may stay silent (no 18x, no final) before the next one is tried. */
  answerTimeoutMs: number | null;
}

export type Plan =
  { ok: true; stages: Stage[] } | { ok: false; status: number; reason: string; detail: string };

export interface TargetContext {
  pbxUri: string | undefined;
  lookup(aor: string): Promise<LookupTarget[]>;
}

/** `sip:10.0.0.10:5060;transport=tcp` with user `2000` → `sip:2000@10.0.0.10:5060;transport=tcp`. */
export function withUser(uri: string, user: string | null): string {
  const match = /^(sips?):(?:[^@;]*@)?(.+)$/i.exec(uri.trim());
  if (!match) throw new Error(`not a SIP URI: ${uri}`);
  if (user === null || /^(sips?):[^;]*@/i.test(uri)) return uri;
  return `${match[1]}:${user}@${match[2]}`;
}

function transportOf(uri: string): string {
  const param = /;transport=([a-z]+)/i.exec(uri);
  return param ? param[1].toLowerCase() : uri.toLowerCase().startsWith('sips:') ? 'tls' : 'udp';
}

function registeredFork(target: LookupTarget): Fork {
  return {
    uri: target.contact,
    proxy: target.proxy,
    kind: target.transport === 'ws' || target.transport === 'wss' ? 'webrtc' : 'nat-phone',
    sipSource: target.flow.sourceAddress,
    nat: target.natVerdict,
    transport: target.transport,
  };
}

/** Turns a routing decision into the INVITEs to send. */
export async function planTargets(
  target: RouteTarget,
  user: string | null,
  domain: string,
  context: TargetContext,
): Promise<Plan> {
  switch (target.kind) {
    case 'pbx': {
      if (!context.pbxUri)
        return { ok: false, status: 503, reason: 'Service Unavailable', detail: 'pbx.uri is not configured' };
      const uri = withUser(context.pbxUri, user);
      return {
        ok: true,
        stages: [{ forks: [{ uri, kind: 'pbx', transport: transportOf(uri) }], answerTimeoutMs: null }],
      };
    }
    case 'registrar': {
      if (!user) return { ok: false, status: 404, reason: 'Not Found', detail: 'no user in the Request-URI' };
      const bindings = await context.lookup(`${user}@${domain}`);
      if (bindings.length === 0)
        return {
          ok: false,
          status: 480,
          reason: 'Temporarily Unavailable',
          detail: `${user} has no registered binding`,
        };
      return { ok: true, stages: [{ forks: bindings.map(registeredFork), answerTimeoutMs: null }] };
    }
    case 'uris':
      return {
        ok: true,
        stages: target.uris.map((uri) => {
          const full = withUser(uri, user);
          return {
            forks: [{ uri: full, kind: 'pbx', transport: transportOf(full) }],
            answerTimeoutMs: target.timeoutMs,
          };
        }),
      };
  }
}
