import type { Call, CallMediaStats } from '../b2bua';
import { natKind, sipNatKind, splitEndpoint, type NatKind } from '../nat/nat-behaviour';
import type { StreamStats } from '../nat/rtpengine-pool';
import { flowTransport, type Binding } from '../registrar';
import type { NatObservations } from './nat-observations';

export interface RegistrationRow {
  aor: string;
  contact: string;
  source: string;
  transport: string;
  natted: boolean;
  nat: NatKind;
  reasons: string[];
  userAgent: string | null;
  registeredAt: number;
  expiresAt: number;
}

export interface RegistrationFilter {
  q?: string;
  transport?: string;
  natted?: boolean;
  offset: number;
  limit: number;
}

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export function registrationRow(binding: Binding, observations: NatObservations): RegistrationRow {
  const { flow } = binding;
  const observed = binding.nat.natted ? observations.kindFor(flow.sourceAddress, flow.sourcePort) : undefined;
  return {
    aor: binding.aor,
    contact: binding.contact,
    source: `${flow.sourceAddress}:${flow.sourcePort}`,
    transport: flowTransport(flow),
    natted: binding.nat.natted,
    nat: observed ?? sipNatKind(binding.nat),
    reasons: binding.nat.reasons,
    userAgent: binding.userAgent,
    registeredAt: binding.registeredAt,
    expiresAt: binding.expiresAt,
  };
}

/** Filtered and paged server-side: the dashboard must stay fast with 100k bindings. */
export function registrationPage(
  bindings: readonly Binding[],
  filter: RegistrationFilter,
  observations: NatObservations,
): Page<RegistrationRow> {
  const needle = filter.q?.toLowerCase();
  const matching = bindings.filter((b) => {
    if (filter.transport && flowTransport(b.flow) !== filter.transport) return false;
    if (filter.natted !== undefined && b.nat.natted !== filter.natted) return false;
    if (!needle) return true;
    const source = `${b.flow.sourceAddress}:${b.flow.sourcePort}`;
    return [b.aor, b.contact, source, b.userAgent ?? ''].some((text) => text.toLowerCase().includes(needle));
  });
  matching.sort((a, b) => (a.aor < b.aor ? -1 : a.aor > b.aor ? 1 : a.contact < b.contact ? -1 : 1));
  return {
    total: matching.length,
    offset: filter.offset,
    limit: filter.limit,
    items: matching
      .slice(filter.offset, filter.offset + filter.limit)
      .map((b) => registrationRow(b, observations)),
  };
}

export interface Flowing {
  packets: number;
  bytes: number;
}

export interface CallRow {
  id: string;
  state: string;
  from: string | null;
  to: string | null;
  rule: string;
  startedAt: number;
  answeredAt: number | null;
  caller: { address: string; transport: string; kind: string; nat: NatKind | null };
  callee: {
    target: string;
    address: string | null;
    transport: string;
    kind: string;
    nat: NatKind | null;
  } | null;
  anchored: boolean | null;
  media: { callerToCallee: Flowing; calleeToCaller: Flowing } | null;
}

/** A live call with its packet counters; rtpengine counts what each leg sent. */
export function callRow(call: Call, media: CallMediaStats | null): CallRow {
  const snapshot = call.snapshot();
  const legNat = (
    kind: string,
    nat: Parameters<typeof natKind>[0],
    streams: StreamStats[] | null,
    sipAddress: string | null,
  ) => (kind === 'pbx' ? null : natKind(nat, streams, sipAddress));
  return {
    id: snapshot.id,
    state: snapshot.state,
    from: snapshot.from,
    to: snapshot.to,
    rule: snapshot.rule,
    startedAt: snapshot.startedAt,
    answeredAt: snapshot.answeredAt,
    caller: {
      ...snapshot.caller,
      nat: legNat(
        snapshot.caller.kind,
        snapshot.caller.nat,
        media?.caller ?? null,
        splitEndpoint(snapshot.caller.address).host,
      ),
    },
    callee: snapshot.callee && {
      ...snapshot.callee,
      nat: legNat(snapshot.callee.kind, snapshot.callee.nat, media?.callee ?? null, snapshot.callee.address),
    },
    anchored: snapshot.anchored,
    media: media && { callerToCallee: flowing(media.caller), calleeToCaller: flowing(media.callee) },
  };
}

function flowing(streams: StreamStats[] | null): Flowing {
  let packets = 0;
  let bytes = 0;
  for (const stream of streams ?? []) {
    packets += stream.packets;
    bytes += stream.bytes;
  }
  return { packets, bytes };
}
