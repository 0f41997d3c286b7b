import type { Binding } from './types';

/**
 * Where bindings live. `put` resolves only once the AoR's new bindings are durable, because the
 * 200 to REGISTER is sent after it: a crash must not lose an acknowledged registration.
 */
export interface BindingStore {
  /** Live bindings of one AoR (expired ones may be included; callers filter by expiresAt). */
  get(aor: string): Promise<Binding[]>;
  /** Replaces the AoR's bindings; an empty list removes the AoR. */
  put(aor: string, bindings: Binding[]): Promise<void>;
  /** Every AoR with bindings, for keepalive and reporting. */
  all(): Promise<Map<string, Binding[]>>;
  /** True when other Pinhole processes may write the same bindings (Redis). */
  readonly shared: boolean;
  /** False while the store cannot take writes (Redis disconnected), for health checks. */
  healthy(): boolean;
  close(): Promise<void>;
}

/** The latest expiry among bindings, or 0 for none. */
export function latestExpiry(bindings: readonly Binding[]): number {
  return bindings.reduce((max, b) => Math.max(max, b.expiresAt), 0);
}
