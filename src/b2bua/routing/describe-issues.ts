import type { z } from 'zod';

/** A schema problem in operator terms: where in the file, and what is wrong. */
export interface FileIssue {
  path: PropertyKey[];
  message: string;
}

/**
 * Zod issues as operators need them: one entry per unknown key (each has its own line), and a
 * union's error from the branch that fits the value's type rather than "Invalid input".
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], base: PropertyKey[] = []): FileIssue[] {
  return issues.flatMap((issue): FileIssue[] => {
    const path = [...base, ...issue.path];
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({
          path: [...path, key],
          message: `unknown key "${key}"; ${issue.message}`,
        }));
      case 'invalid_union': {
        const fitting = issue.errors.filter((branch) => !isTypeMismatch(branch));
        return fitting.length === 1 ? describeIssues(fitting[0], path) : [{ path, message: issue.message }];
      }
      case 'invalid_key':
        // The key's own issues carry no path of their own: they are about the key at `path`.
        return describeIssues(issue.issues, path).map((keyIssue) => ({
          ...keyIssue,
          message: `bad name: ${keyIssue.message}`,
        }));
      case 'invalid_type':
        return [{ path, message: typeMessage(issue, path) }];
      default:
        return [{ path, message: issue.message }];
    }
  });
}

/** A union branch that failed only because the value is of another type altogether. */
function isTypeMismatch(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.length === 1 && branch[0].code === 'invalid_type' && branch[0].path.length === 0;
}

const NOUNS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
};

function typeMessage(issue: z.core.$ZodIssueInvalidType, path: PropertyKey[]): string {
  // Messages the schema wrote itself are already specific.
  if (!issue.message.startsWith('Invalid input')) return issue.message;
  if (path.length === 0) return 'expected a mapping with rules: (and optionally targets:) at the top level';
  if (issue.input === undefined) return 'required';
  return `expected ${NOUNS[issue.expected] ?? issue.expected}, got ${kindOf(issue.input)}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `text "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${String(value)}`;
}
