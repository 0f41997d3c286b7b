import { formatParams, parseParams, type Params } from './split';
import { parseUri, UriError, type SipUri } from './uri';

/** A From/To/Contact/Route element: `"Display" <uri>;params` or `uri;params`. */
export interface NameAddr {
  displayName: string | null;
  uri: SipUri;
  /** The URI text exactly as received. */
  uriText: string;
  params: Params;
}

export function parseNameAddr(text: string): NameAddr {
  const value = text.trim();
  const lt = findUnquoted(value, '<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    if (gt < 0) throw new UriError(`missing '>' in: ${value}`);
    const display = value.slice(0, lt).trim();
    if (display.startsWith('"') && !/^"(?:[^"\\]|\\.)*"$/.test(display))
      throw new UriError(`unbalanced quotes in display name: ${value}`);
    const uriText = value.slice(lt + 1, gt).trim();
    return {
      displayName: display === '' ? null : display,
      uri: parseUri(uriText),
      uriText,
      params: parseParams(value.slice(gt + 1)),
    };
  }
  // addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10).
  if (/\s/.test(value)) throw new UriError(`whitespace in addr-spec: ${value}`);
  const semi = value.indexOf(';');
  const uriText = semi >= 0 ? value.slice(0, semi) : value;
  return {
    displayName: null,
    uri: parseUri(uriText),
    uriText,
    params: semi >= 0 ? parseParams(value.slice(semi)) : new Map(),
  };
}

function findUnquoted(value: string, ch: string): number {
  let inQuotes = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuotes) {
      if (c === '\\') i++;
      else if (c === '"') inQuotes = false;
    } else if (c === '"') inQuotes = true;
    else if (c === ch) return i;
  }
  return -1;
}

export function formatNameAddr(addr: NameAddr): string {
  const display = addr.displayName ? `${addr.displayName} ` : '';
  return `${display}<${addr.uriText}>${formatParams(addr.params)}`;
}
