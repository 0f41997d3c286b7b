import { compileRules, type CompiledRule } from './compile';
import { describeIssues, type FileIssue } from './describe-issues';
import { RoutingError, type RoutingProblem } from './errors';
import { readRoutingText } from './read-file';
import { LIMITS, routingFileSchema } from './schema';
import type { RouteDecision, RouteRequest } from './types';
import { readYaml, type YamlSource } from './yaml-source';

const NO_MATCH: RouteDecision = Object.freeze({ action: 'no-match' });

/** An immutable, validated rule list: first match wins. */
export class RoutingRules {
  readonly ruleCount: number;

  private constructor(private readonly rules: readonly CompiledRule[]) {
    this.ruleCount = rules.length;
  }

  /** Throws RoutingError listing every problem found, each with `file` and line. */
  static parse(text: string, file: string): RoutingRules {
    try {
      return new RoutingRules(compile(text, file));
    } catch (err) {
      if (err instanceof RoutingError) throw err;
      // The YAML and schema libraries recurse; whatever they throw on a pathological file is
      // still only a refused file.
      throw new RoutingError([{ file, line: null, message: `cannot parse: ${(err as Error).message}` }]);
    }
  }

  static load(file: string): RoutingRules {
    return RoutingRules.parse(readRoutingText(file), file);
  }

  route(request: RouteRequest): RouteDecision {
    for (const rule of this.rules) {
      if (rule.source !== null && !rule.source(request.source)) continue;
      if (rule.user !== null && (request.user === null || !rule.user(request.user))) continue;
      if (rule.fromUser !== null && (request.fromUser === null || !rule.fromUser(request.fromUser))) continue;
      if (rule.domain !== null && !rule.domain(request.domain)) continue;
      const outcome = rule.outcome;
      if (outcome.action === 'reject') return outcome;
      return {
        action: 'route',
        rule: rule.name,
        user:
          outcome.rewrite !== null && request.user !== null
            ? nonEmpty(outcome.rewrite(request.user))
            : request.user,
        target: outcome.target,
        media: outcome.media,
      };
    }
    return NO_MATCH;
  }
}

/** A rewrite that removes the whole user leaves a request-URI without one, not `sip:@host`. */
function nonEmpty(user: string): string | null {
  return user === '' ? null : user;
}

function compile(text: string, file: string): CompiledRule[] {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > LIMITS.fileBytes) {
    throw new RoutingError([
      {
        file,
        line: lineAtByte(text, LIMITS.fileBytes),
        message: `the file is larger than ${LIMITS.fileBytes} bytes; this line crosses the limit`,
      },
    ]);
  }
  const source = readYaml(text, file);
  if (source.value === null || source.value === undefined) {
    throw new RoutingError([
      { file, line: 1, message: 'the file is empty; expected rules: (and optionally targets:)' },
    ]);
  }
  const parsed = routingFileSchema.safeParse(source.value, { reportInput: true });
  if (!parsed.success) throw problemsError(describeIssues(parsed.error.issues), source, file);
  const compiled = compileRules(parsed.data);
  if ('issues' in compiled) throw problemsError(compiled.issues, source, file);
  return compiled.rules;
}

function problemsError(issues: readonly FileIssue[], source: YamlSource, file: string): RoutingError {
  return new RoutingError(
    issues.map((issue): RoutingProblem => ({
      file,
      line: source.lineOf(issue.path),
      message: `${where(issue.path, source.value)}${issue.message}`,
    })),
  );
}

/** `rule 3 (international): match.user: ` — rules counted from 1, as in their default names. */
function where(path: readonly PropertyKey[], root: unknown): string {
  let rest = path;
  let head = '';
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const name = nameOfRule(root, path[1]);
    head = `rule ${path[1] + 1}${name !== null ? ` (${name})` : ''}`;
    rest = path.slice(2);
  }
  const tail = rest
    .map((key, i) => (typeof key === 'number' ? ` item ${key + 1}` : `${i > 0 ? '.' : ''}${String(key)}`))
    .join('');
  const text = head && tail ? `${head}: ${tail}` : head || tail;
  return text ? `${text}: ` : '';
}

function nameOfRule(root: unknown, index: number): string | null {
  const rules = (root as { rules?: unknown } | null)?.rules;
  const rule: unknown = Array.isArray(rules) ? rules[index] : undefined;
  const name = (rule as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : null;
}

function lineAtByte(text: string, offset: number): number {
  const head = Buffer.from(text, 'utf8').subarray(0, offset);
  let line = 1;
  for (const byte of head) if (byte === 0x0a) line++;
  return line;
}
