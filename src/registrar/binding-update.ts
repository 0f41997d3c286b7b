import type { SipUri } from './header-syntax';
import type { ContactSpec, ParsedRegister } from './register-request';
import type { Binding, BindingFlow, NatVerdict } from './types';

export interface ExpiryPolicy {
  /** Used when neither the Contact nor the request says. */
  defaultExpires: number;
  /** Shorter non-zero requests get 423 (RFC 3261 §10.3 step 7). */
  minExpires: number;
  maxExpires: number;
  /** NATed UDP bindings are capped at this so the phone refreshes its NAT mapping in time. */
  natUdpExpires: number;
}

export type UpdateOutcome =
  | { kind: 'ok'; bindings: Binding[] }
  | { kind: 'interval-too-brief'; minExpires: number }
  | { kind: 'out-of-order'; contact: string };

/** RFC 3261 §19.1.4 enough for binding identity: case-insensitive host, explicit port, transport. */
export function contactKey(uri: SipUri): string {
  const transport = uri.params.get('transport')?.toLowerCase() ?? '';
  return `${uri.scheme}:${uri.user ?? ''}@${uri.host}:${uri.port ?? ''};${transport}`;
}

/** RFC 5626: a binding with +sip.instance and reg-id is identified by them, not by its URI. */
function identity(spec: { instanceId: string | null; regId: number | null }, uriKey: string): string {
  return spec.instanceId !== null && spec.regId !== null
    ? `instance:${spec.instanceId.toLowerCase()}:${spec.regId}`
    : `uri:${uriKey}`;
}

function bindingIdentity(b: Binding, parseUri: (text: string) => SipUri): string {
  return identity(b, contactKey(parseUri(b.contact)));
}

/** Seconds granted for one contact, or null when the request must be answered with 423. */
export function grantedExpires(
  requested: number,
  policy: ExpiryPolicy,
  nattedUdp: boolean,
): number | 'too-brief' {
  if (requested === 0) return 0;
  if (requested < policy.minExpires) return 'too-brief';
  const capped = Math.min(requested, policy.maxExpires);
  return nattedUdp ? Math.min(capped, Math.max(policy.natUdpExpires, policy.minExpires)) : capped;
}

function isStale(existing: Binding, req: ParsedRegister): boolean {
  return existing.callId === req.callId && req.cseq <= existing.cseq;
}

/**
 * Applies a REGISTER to an AoR's live bindings (RFC 3261 §10.3 steps 6-8) and returns the new
 * set, or why the whole request fails. Pure: no clock or I/O beyond the arguments.
 */
export function applyRegister(
  current: readonly Binding[],
  req: ParsedRegister,
  flow: BindingFlow,
  natFor: (contact: ContactSpec) => NatVerdict,
  policy: ExpiryPolicy,
  now: number,
  parseUri: (text: string) => SipUri,
): UpdateOutcome {
  const live = current.filter((b) => b.expiresAt > now);
  if (req.wildcard) {
    const stale = live.find((b) => isStale(b, req));
    return stale ? { kind: 'out-of-order', contact: stale.contact } : { kind: 'ok', bindings: [] };
  }
  const byId = new Map(live.map((b) => [bindingIdentity(b, parseUri), b]));
  const nattedUdp = flow.protocol === 'udp';
  const updates: { id: string; binding: Binding | null }[] = [];
  for (const spec of req.contacts) {
    const requested = spec.expires ?? req.expires ?? policy.defaultExpires;
    const nat = natFor(spec);
    const seconds = grantedExpires(requested, policy, nattedUdp && nat.natted);
    if (seconds === 'too-brief') return { kind: 'interval-too-brief', minExpires: policy.minExpires };
    const id = identity(spec, contactKey(spec.uri));
    const existing = byId.get(id);
    if (existing && isStale(existing, req)) return { kind: 'out-of-order', contact: spec.uriText };
    updates.push({
      id,
      binding:
        seconds === 0
          ? null
          : {
              aor: req.aor,
              contact: spec.uriText,
              instanceId: spec.instanceId,
              regId: spec.regId,
              q: spec.q,
              callId: req.callId,
              cseq: req.cseq,
              expiresAt: now + seconds * 1000,
              registeredAt: existing?.registeredAt ?? now,
              flow,
              nat,
              userAgent: req.userAgent,
            },
    });
  }
  for (const { id, binding } of updates) {
    if (binding) byId.set(id, binding);
    else byId.delete(id);
  }
  return { kind: 'ok', bindings: [...byId.values()] };
}

/** The Contact header values of a 200 to REGISTER: every live binding with its remaining time. */
export function contactsForResponse(bindings: readonly Binding[], now: number): string[] {
  return bindings
    .filter((b) => b.expiresAt > now)
    .map((b) => {
      let value = `<${b.contact}>;expires=${Math.max(1, Math.round((b.expiresAt - now) / 1000))}`;
      if (b.q !== null) value += `;q=${b.q}`;
      if (b.instanceId !== null) value += `;+sip.instance=${b.instanceId}`;
      if (b.regId !== null) value += `;reg-id=${b.regId}`;
      return value;
    });
}
