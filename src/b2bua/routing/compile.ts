import { reasonPhrase } from '../../sipserver/message';
import type { SourceMatcher, TextMatcher } from './matchers';
import type { RoutingFile, RuleSpec, TargetGroupSpec } from './schema';
import type { MediaPolicy, RouteDecision, RouteTarget } from './types';

/** A rule ready to run: matchers and the outcome built once, shared by every call. */
export interface CompiledRule {
  name: string;
  source: SourceMatcher | null;
  user: TextMatcher | null;
  fromUser: TextMatcher | null;
  domain: TextMatcher | null;
  outcome: RouteOutcome | Extract<RouteDecision, { action: 'reject' }>;
}

export interface RouteOutcome {
  action: 'route';
  rewrite: ((user: string) => string) | null;
  target: RouteTarget;
  media: MediaPolicy | null;
}

/** A problem found by looking across rules, at a path in the file. */
export interface CrossIssue {
  path: (string | number)[];
  message: string;
}

const BUILT_IN: Record<string, RouteTarget> = {
  pbx: Object.freeze({ kind: 'pbx' }),
  registrar: Object.freeze({ kind: 'registrar' }),
};

/** Resolves target names and rule names; the schema has already checked each part on its own. */
export function compileRules(file: RoutingFile): { rules: CompiledRule[] } | { issues: CrossIssue[] } {
  const issues: CrossIssue[] = [];
  const named = new Map<string, RouteTarget>(Object.entries(BUILT_IN));
  for (const [name, group] of Object.entries(file.targets ?? {})) named.set(name, uriTarget(name, group));

  const seen = new Map<string, number>();
  const rules = file.rules.map((spec, index): CompiledRule | null => {
    const name = spec.name ?? `rule ${index + 1}`;
    const first = seen.get(name);
    if (first !== undefined) {
      issues.push({
        path: ['rules', index, ...(spec.name !== undefined ? ['name'] : [])],
        message: `rule name "${name}" is already used by rule ${first + 1}`,
      });
    } else seen.set(name, index);
    const outcome = compileOutcome(spec, name, named);
    if (typeof outcome === 'string') {
      issues.push({ path: ['rules', index, 'target'], message: outcome });
      return null;
    }
    return {
      name,
      source: spec.match?.source ?? null,
      user: spec.match?.user ?? null,
      fromUser: spec.match?.fromUser ?? null,
      domain: spec.match?.domain ?? null,
      outcome,
    };
  });
  if (issues.length > 0) return { issues };
  return { rules: rules.filter((rule): rule is CompiledRule => rule !== null) };
}

/** The rule's outcome, or why its target cannot be resolved. */
function compileOutcome(
  spec: RuleSpec,
  rule: string,
  named: ReadonlyMap<string, RouteTarget>,
): CompiledRule['outcome'] | string {
  if (spec.reject) {
    const { status, reason } = spec.reject;
    return Object.freeze({ action: 'reject', rule, status, reason: reason ?? reasonPhrase(status) });
  }
  // The schema guarantees a target when there is no reject.
  const ref = spec.target as NonNullable<RuleSpec['target']>;
  let target: RouteTarget;
  if (typeof ref === 'string') {
    const found = named.get(ref);
    if (!found) {
      const known = [...named.keys()].join(', ');
      return `unknown target "${ref}" (known: ${known})`;
    }
    target = found;
  } else target = uriTarget(null, ref);
  return {
    action: 'route',
    rewrite: spec.rewrite ? rewriter(spec.rewrite) : null,
    target,
    media: spec.media ?? null,
  };
}

function uriTarget(name: string | null, group: TargetGroupSpec): RouteTarget {
  return Object.freeze({
    kind: 'uris',
    name,
    uris: Object.freeze([...group.uris]) as string[],
    timeoutMs: Math.round(group.timeout * 1000),
  });
}

/** strip, then prefix, then replace (first match; $1-style groups), in that order. */
function rewriter(rewrite: NonNullable<RuleSpec['rewrite']>): (user: string) => string {
  const { strip, prefix, replace } = rewrite;
  return (user) => {
    let result = strip !== undefined ? user.slice(strip) : user;
    if (prefix !== undefined) result = prefix + result;
    if (replace !== undefined) result = result.replace(replace.regex, replace.with);
    return result;
  };
}
