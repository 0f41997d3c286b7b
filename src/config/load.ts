import * as fs from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { ZodError } from 'zod';
import { configSchema, type PinholeConfig } from './schema';

/** A config file that cannot be used, with the place and reason for the operator. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: { line: number | null; path: string; reason: string }[],
  ) {
    super(
      `${file}: ` +
        problems
          .map((p) => `${p.line !== null ? `line ${p.line}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.reason}`)
          .join('; '),
    );
  }
}

export function loadConfigFile(file: string): PinholeConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ line: null, path: '', reason: (err as Error).message }]);
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, file = 'config'): PinholeConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        line: lineCounter.linePos(e.pos[0]).line,
        path: '',
        reason: e.message.split('\n')[0],
      })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(file, describeIssues(result.error, doc.contents, lineCounter));
}

function describeIssues(error: ZodError, root: unknown, lines: LineCounter) {
  return error.issues.map((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]);
    return { line: lineOf(root, path, lines), path: path.join('.'), reason: issue.message };
  });
}

/** The line of the deepest YAML node on `path` that exists. */
function lineOf(root: unknown, path: string[], lines: LineCounter): number | null {
  let node = root as Node | null;
  let line: number | null = node?.range ? lines.linePos(node.range[0]).line : null;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => String((item.key as Node & { value?: unknown })?.value ?? item.key) === key,
      );
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) line = lines.linePos(keyNode.range[0]).line;
      node = pair.value as Node | null;
    } else if (isSeq(node)) {
      node = (node.items[Number(key)] as Node | undefined) ?? null;
      if (node?.range) line = lines.linePos(node.range[0]).line;
    } else break;
  }
  return line;
}
