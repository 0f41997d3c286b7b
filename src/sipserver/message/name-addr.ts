import { endOfQuotedString, hasWhitespace, isTokenChar } from './grammar';
import { formatParams, parseParamsStrict, type Params } from './split';
import { parseAnyUri, type SipUri } from './uri';
import { UriError } from './uri-error';

/** A From/To/Contact/Route element: `"Display" <uri>;params` or `uri;params`. */
export interface NameAddr {
  /** As received: a quoted-string keeps its quotes and escapes (see `unquote`), or tokens. */
  displayName: string | null;
  uri: SipUri;
  /** The URI text exactly as received. */
  uriText: string;
  params: Params;
}

/** Parses a name-addr or addr-spec with its header parameters (RFC 3261 §20.10, §25.1). */
export function parseNameAddr(text: string): NameAddr {
  const value = text.trim();
  if (value === '') throw new UriError('empty address');
  let displayName: string | null = null;
  let lt: number;
  if (value.charCodeAt(0) === 0x22) {
    const end = endOfQuotedString(value, 0);
    if (end < 0) throw new UriError(`unterminated quoted display name: ${value}`);
    displayName = value.slice(0, end);
    lt = skipWhitespace(value, end);
    if (value[lt] !== '<') throw new UriError(`expected '<' after the display name: ${value}`);
  } else {
    lt = value.indexOf('<');
    if (lt > 0) {
      // No LWS is needed before '<' (RFC 4475 §3.1.1.6), so the name is whatever precedes it.
      displayName = value.slice(0, lt).trimEnd();
      if (!isUnquotedDisplayName(displayName))
        throw new UriError(`display name with separators must be quoted: ${value}`);
    }
  }
  if (lt >= 0) {
    const gt = value.indexOf('>', lt + 1);
    if (gt < 0) throw new UriError(`missing '>' in: ${value}`);
    const uriText = value.slice(lt + 1, gt);
    if (uriText.length === 0 || hasWhitespace(uriText))
      throw new UriError(`whitespace or nothing between '<' and '>': ${value}`);
    return {
      displayName,
      uri: parseAnyUri(uriText),
      uriText,
      params: parseParamsStrict(value.slice(gt + 1), value),
    };
  }
  // addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10), so a
  // URI holding ';', '?' or ',' of its own must have come in angle brackets.
  const semi = value.indexOf(';');
  const uriText = semi >= 0 ? value.slice(0, semi).trimEnd() : value;
  if (hasWhitespace(uriText)) throw new UriError(`whitespace in addr-spec: ${value}`);
  if (uriText.includes('?') || uriText.includes(','))
    throw new UriError(`URI with '?' or ',' must be enclosed in '<' '>': ${value}`);
  return {
    displayName: null,
    uri: parseAnyUri(uriText),
    uriText,
    params: semi >= 0 ? parseParamsStrict(value.slice(semi), value) : new Map(),
  };
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

/**
 * display-name = *(token LWS): tokens and whitespace. UTF-8 is let through too, as phones
 * send unquoted non-ASCII names and nothing becomes ambiguous.
 */
function isUnquotedDisplayName(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c < 0x80 && !isTokenChar(c)) return false;
  }
  return true;
}

export function formatNameAddr(addr: NameAddr): string {
  const display = addr.displayName ? `${addr.displayName} ` : '';
  return `${display}<${addr.uriText}>${formatParams(addr.params)}`;
}
