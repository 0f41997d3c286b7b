import { NetworkSet } from '../../nat/network-set';
import type { RouteRequest, SourceKind } from './types';

/** Tests one request field; built once per rule when the file loads. */
export type TextMatcher = (value: string) => boolean;
export type SourceMatcher = (source: RouteRequest['source']) => boolean;

export type TextMatch = { exact: string } | { prefix: string } | { regex: RegExp };

/** `ignoreCase` is for hosts (RFC 3261 §19.1.4); a regex gets its `i` flag where it is compiled. */
export function textMatcher(match: TextMatch, ignoreCase: boolean): TextMatcher {
  if ('regex' in match) {
    const regex = match.regex;
    return (value) => regex.test(value);
  }
  if ('exact' in match) {
    const exact = ignoreCase ? match.exact.toLowerCase() : match.exact;
    return ignoreCase
      ? (value) => value.length === exact.length && value.toLowerCase() === exact
      : (value) => value === exact;
  }
  const prefix = ignoreCase ? match.prefix.toLowerCase() : match.prefix;
  return ignoreCase
    ? (value) => value.length >= prefix.length && value.slice(0, prefix.length).toLowerCase() === prefix
    : (value) => value.startsWith(prefix);
}

export type SourceSpec = { kind: SourceKind } | { network: string; prefix: number; family: 'ipv4' | 'ipv6' };

/** Holds when the request's source kind is listed or its address is in a listed network. */
export function sourceMatcher(specs: readonly SourceSpec[]): SourceMatcher {
  const kinds = new Set<SourceKind>();
  const networks = new NetworkSet();
  for (const spec of specs) {
    if ('kind' in spec) kinds.add(spec.kind);
    else networks.add(spec);
  }
  return (source) => kinds.has(source.kind) || networks.has(source.address);
}
