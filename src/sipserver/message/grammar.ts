/**
 * Character classes of the RFC 3261 §25.1 grammar, as lookup tables: the parser runs per packet
 * and these checks run on every header, so they avoid regular expressions.
 */

function table(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  for (const [from, to] of ranges) for (let c = from; c <= to; c++) t[c] = 1;
  return t;
}

const ALPHANUM: Array<[number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
const TOKEN = table("-.!%*_+`'~", ALPHANUM);

/** Host names and IPv4 addresses; `_` is not in the grammar but common in deployed DNS names. */
const HOSTNAME = table('-._', ALPHANUM);

function allIn(t: Uint8Array, text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || t[c] === 0) return false;
  }
  return true;
}

export function isTokenChar(code: number): boolean {
  return code < 128 && TOKEN[code] === 1;
}

export function isToken(text: string): boolean {
  return allIn(TOKEN, text);
}

export function isHostname(text: string): boolean {
  return allIn(HOSTNAME, text);
}

/**
 * True when `text` holds a character that can never appear unescaped inside a URI: controls,
 * space, `<`, `>`, `"`. Other characters outside the grammar (`#` in dial strings, UTF-8) are
 * sent by deployed phones and do not make the message ambiguous, so they are let through.
 */
export function hasUriBreakingChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x22 || c === 0x3c || c === 0x3e) return true;
  }
  return false;
}

export function hasWhitespace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) return true;
  }
  return false;
}

/**
 * Index just past the quoted-string that starts at `start` (which must be `"`), or -1 when it
 * is not terminated. A backslash escapes any following character (quoted-pair).
 */
export function endOfQuotedString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return -1;
}

/** True for a whole `"..."` quoted-string. */
export function isQuotedString(text: string): boolean {
  return text.charCodeAt(0) === 0x22 && endOfQuotedString(text, 0) === text.length;
}
