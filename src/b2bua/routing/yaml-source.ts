import { CST, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, type Node } from 'yaml';
import { RoutingError } from './errors';

/** A parsed YAML document that can say on which line a value (or its key) was written. */
export interface YamlSource {
  value: unknown;
  lineOf(path: readonly PropertyKey[]): number | null;
}

/** Far deeper than any routing file needs (about 6), far shallower than what exhausts the stack. */
const MAX_NESTING = 64;

/**
 * Parses one YAML document; syntax errors (and alias bombs, which `toJS` refuses) become a
 * RoutingError with their lines.
 */
export function readYaml(text: string, file: string): YamlSource {
  const lines = new LineCounter();
  const tooDeep = deepNestingOffset(text);
  if (tooDeep !== null) {
    throw new RoutingError([
      { file, line: lineAt(text, tooDeep), message: `YAML: nested more than ${MAX_NESTING} levels deep` },
    ]);
  }
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new RoutingError(
      doc.errors.map((e) => ({
        file,
        // Errors found at the end of the text (an unclosed bracket) would name the line after the
        // final newline, which editors do not show.
        line: lines.linePos(Math.min(e.pos[0], Math.max(0, text.length - 1))).line,
        message: `YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new RoutingError([{ file, line: null, message: `YAML: ${(err as Error).message}` }]);
  }
  return { value, lineOf: (path) => lineOf(doc.contents, path, lines) };
}

/**
 * Where nesting first exceeds MAX_NESTING, or null. The YAML composer recurses once per level,
 * and a stack overflow there can take V8 down (a regex compiled near the stack limit aborts the
 * process), so depth is estimated first from the lexer, which does not recurse: one level per
 * open indentation step, per open bracket, and per block indicator on the current line
 * (`- - - x` nests three deep). It overestimates a little, never by enough to matter.
 */
function deepNestingOffset(text: string): number | null {
  const indents: number[] = [];
  let flow = 0;
  let onLine = 0;
  let atLineStart = true;
  let indent = 0;
  let offset = 0;
  for (const lexeme of new Lexer().lex(text)) {
    const type = CST.tokenType(lexeme);
    // The lexer also emits markers that are not in the source text.
    if (type === 'doc-mode' || type === 'scalar' || type === 'flow-error-end') continue;
    if (type === 'newline' || (type === 'space' && lexeme.includes('\n'))) {
      // A block scalar's lines come as one "space" lexeme ending in a newline.
      atLineStart = true;
      indent = 0;
      onLine = 0;
    } else if (type === 'space') {
      if (atLineStart) indent = lexeme.length;
    } else if (type !== 'comment') {
      if (atLineStart) {
        atLineStart = false;
        while (indents.length > 0 && indents[indents.length - 1] >= indent) indents.pop();
        indents.push(indent);
      }
      if (type === 'flow-map-start' || type === 'flow-seq-start') flow++;
      else if (type === 'flow-map-end' || type === 'flow-seq-end') flow--;
      else if (type === 'seq-item-ind' || type === 'explicit-key-ind' || type === 'map-value-ind') onLine++;
      if (indents.length + flow + onLine > MAX_NESTING) return offset;
    }
    offset += lexeme.length;
  }
  return null;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * The line of the deepest node on `path` that exists: a mapping entry counts from its key, so
 * an unknown or wrong key points at the line that names it.
 */
function lineOf(root: Node | null, path: readonly PropertyKey[], lines: LineCounter): number | null {
  let node: unknown = root;
  let line = startLine(node, lines);
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(key));
      if (!pair) break;
      line = startLine(pair.key, lines) ?? line;
      node = pair.value;
    } else if (isSeq(node)) {
      node = node.items[Number(key)];
      line = startLine(node, lines) ?? line;
    } else break;
  }
  return line;
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function startLine(node: unknown, lines: LineCounter): number | null {
  const range = (node as Node | null | undefined)?.range;
  return range ? lines.linePos(range[0]).line : null;
}
