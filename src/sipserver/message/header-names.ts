/** RFC 3261 §7.3.3 compact forms, plus RFC 3515/3892/3841/4028 ones seen in the field. */
const COMPACT_TO_FULL: Readonly<Record<string, string>> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  r: 'refer-to',
  b: 'referred-by',
  u: 'allow-events',
  x: 'session-expires',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  y: 'identity',
};

/** Spellings that the "capitalise after each dash" rule gets wrong. */
const SPECIAL_CASE: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  rack: 'RAck',
  rseq: 'RSeq',
  'mime-version': 'MIME-Version',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
};

/**
 * Headers whose value may be a comma-separated list of elements (RFC 3261 §7.3.1). Others,
 * such as the auth headers and Date, contain commas that are not separators.
 */
const LIST_HEADERS = new Set([
  'via',
  'contact',
  'route',
  'record-route',
  'path',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'in-reply-to',
  'service-route',
  'content-language',
  'accept-contact',
  'reject-contact',
  'alert-info',
  'call-info',
  'error-info',
  'warning',
  'reason',
  'history-info',
  'p-asserted-identity',
  'p-preferred-identity',
  'security-client',
  'security-server',
  'security-verify',
]);

/** Lower-case full name used as the lookup key of a header. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT_TO_FULL[lower] ?? lower) : lower;
}

/** The conventional spelling of a header name, e.g. `call-id` -> `Call-ID`, `x-foo` kept. */
export function canonicalHeaderName(name: string): string {
  const key = headerKey(name);
  const special = SPECIAL_CASE[key];
  if (special) return special;
  let out = '';
  let upperNext = true;
  for (const ch of key) {
    out += upperNext ? ch.toUpperCase() : ch;
    upperNext = ch === '-';
  }
  return out;
}

export function isListHeader(key: string): boolean {
  return LIST_HEADERS.has(key);
}
