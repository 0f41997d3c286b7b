/** Where a request came from, as the call logic classified its packet source. */
export type SourceKind = 'phones' | 'pbx';

/** The parts of an INVITE that routing rules look at. */
export interface RouteRequest {
  /** `address` is the packet's source IP. */
  source: { kind: SourceKind; address: string };
  /** Request-URI user. */
  user: string | null;
  /** Request-URI host. */
  domain: string;
  fromUser: string | null;
}

export type RouteTarget =
  | { kind: 'pbx' }
  | { kind: 'registrar' }
  /** Tried in order; `name` is the `targets:` entry, null for a rule's inline list. */
  | { kind: 'uris'; name: string | null; uris: string[]; timeoutMs: number };

/** Overrides the global media.anchor for one call. */
export type MediaPolicy = 'always' | 'nat' | 'never';

export type RouteDecision =
  /** `user` is the request-URI user after the rule's rewrite. */
  | { action: 'route'; rule: string; user: string | null; target: RouteTarget; media: MediaPolicy | null }
  | { action: 'reject'; rule: string; status: number; reason: string }
  | { action: 'no-match' };
