/** One mistake in a routing file; `line` is 1-based, null when no line applies (unreadable file). */
export interface RoutingProblem {
  file: string;
  line: number | null;
  message: string;
}

export function formatProblem(problem: RoutingProblem): string {
  return `${problem.file}${problem.line !== null ? `:${problem.line}` : ''}: ${problem.message}`;
}

/** A routing file that cannot be used; the message lists every problem as `file:line: reason`. */
export class RoutingError extends Error {
  readonly problems: RoutingProblem[];

  constructor(problems: RoutingProblem[]) {
    const sorted = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    super(sorted.map(formatProblem).join('\n'));
    this.name = 'RoutingError';
    this.problems = sorted;
  }
}
