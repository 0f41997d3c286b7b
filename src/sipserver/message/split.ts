import { hasUriBreakingChar, isQuotedString } from './grammar';
import { UriError } from './uri-error';

/**
 * Splits a header value on top-level separators, ignoring those inside quoted strings and
 * angle brackets (RFC 3261 §25.1: `,` separates list elements, `;` parameters).
 */
export function splitTopLevel(value: string, separator: ',' | ';'): string[] {
  const parts: string[] = [];
  let start = 0;
  let inQuotes = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (inQuotes) {
      if (ch === 0x5c) i++;
      else if (ch === 0x22) inQuotes = false;
      continue;
    }
    if (ch === 0x22) inQuotes = true;
    else if (ch === 0x3c) inAngle = true;
    else if (ch === 0x3e) inAngle = false;
    else if (!inAngle && value[i] === separator) {
      parts.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(value.slice(start).trim());
  return parts;
}

export type Params = Map<string, string | null>;

/** Parses `;a=b;c` (leading separator optional) into a map with lower-case names. */
export function parseParams(text: string): Params {
  const params: Params = new Map();
  for (const part of splitTopLevel(text, ';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) params.set(part.trim().toLowerCase(), null);
    else params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return params;
}

/**
 * Parses `;a=b;c` as the grammar demands (RFC 3261 §25.1 generic-param / uri-parameter):
 * the text is empty or starts with `;`, no parameter is empty, names and unquoted values hold
 * no whitespace. Whitespace around `;` and `=` is allowed (SEMI and EQUAL are SWS-padded).
 * Throws UriError naming `context`.
 */
export function parseParamsStrict(text: string, context: string): Params {
  const params: Params = new Map();
  const trimmed = text.trim();
  if (trimmed === '') return params;
  if (trimmed.charCodeAt(0) !== 0x3b) throw new UriError(`expected ';' before parameters in: ${context}`);
  const parts = splitTopLevel(trimmed, ';');
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    if (part === '') throw new UriError(`empty parameter in: ${context}`);
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq).trimEnd();
    if (name === '' || hasUriBreakingChar(name)) throw new UriError(`invalid parameter name in: ${context}`);
    const value = eq < 0 ? null : part.slice(eq + 1).trimStart();
    if (value !== null && (value.charCodeAt(0) === 0x22 ? !isQuotedString(value) : hasUriBreakingChar(value)))
      throw new UriError(`invalid value of parameter ${name} in: ${context}`);
    params.set(name.toLowerCase(), value);
  }
  return params;
}

export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params) out += value === null ? `;${name}` : `;${name}=${value}`;
  return out;
}

export function unquote(text: string): string {
  if (text.length < 2 || text[0] !== '"' || text[text.length - 1] !== '"') return text;
  return text.slice(1, -1).replace(/\\(.)/g, '$1');
}
