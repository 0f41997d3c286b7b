import {
  HeaderSyntaxError,
  parseNameAddr,
  parseSipUri,
  parseTopVia,
  splitTopLevel,
  type SipUri,
  type ViaTop,
} from './header-syntax';

/** The parts of a REGISTER the registrar reads; header values as drachtio-srf gives them (comma-joined). */
export interface RegisterMessage {
  get(name: string): string | undefined;
}

export interface ContactSpec {
  /** The URI as sent, for the 200 and for requests to the phone. */
  uriText: string;
  uri: SipUri;
  /** `expires` parameter, or null. */
  expires: number | null;
  instanceId: string | null;
  regId: number | null;
  q: string | null;
}

export interface ParsedRegister {
  /** `sip:user@domain`, the key bindings are stored under. */
  aor: string;
  user: string;
  callId: string;
  cseq: number;
  /** `Contact: *` (remove every binding). */
  wildcard: boolean;
  contacts: ContactSpec[];
  /** Expires header, or null. */
  expires: number | null;
  via: ViaTop;
  userAgent: string | null;
}

export class BadRegister extends Error {}

/** delta-seconds (RFC 3261 §25.1): digits only; huge values are clamped later by the policy. */
function parseDeltaSeconds(text: string, what: string): number {
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) throw new BadRegister(`bad ${what}: ${t}`);
  return Number(t);
}

/** Key an AoR is stored under: the configured domain wins over whatever host the phone put in To. */
export function aorFor(user: string, domain: string): string {
  return `sip:${user}@${domain.toLowerCase()}`;
}

/**
 * Validates a REGISTER and pulls out what §10.3 needs. Anything malformed throws BadRegister
 * with a reason fit for the 400's reason phrase; nothing is changed for such a request.
 */
export function parseRegister(
  msg: RegisterMessage,
  opts: { domain: string | null; maxContacts: number },
): ParsedRegister {
  try {
    const toValue = msg.get('To');
    if (!toValue) throw new BadRegister('missing To');
    const to = parseNameAddr(toValue);
    if (!to.uri.user) throw new BadRegister('To has no user part');
    const callId = msg.get('Call-ID')?.trim();
    if (!callId) throw new BadRegister('missing Call-ID');
    const cseqMatch = /^\s*(\d{1,10})\s+REGISTER\s*$/i.exec(msg.get('CSeq') ?? '');
    if (!cseqMatch) throw new BadRegister('bad CSeq');
    const viaValue = msg.get('Via');
    if (!viaValue) throw new BadRegister('missing Via');
    const via = parseTopVia(viaValue);
    const expiresHeader = msg.get('Expires');
    const expires = expiresHeader !== undefined ? parseDeltaSeconds(expiresHeader, 'Expires') : null;

    const contactValue = msg.get('Contact');
    const raw = contactValue ? splitTopLevel(contactValue) : [];
    if (raw.length > opts.maxContacts)
      throw new BadRegister(`too many contacts (${raw.length} > ${opts.maxContacts})`);
    const wildcard = raw.some((c) => c === '*');
    if (wildcard && (raw.length > 1 || expires !== 0))
      throw new BadRegister('Contact: * needs Expires: 0 and no other contact');
    const contacts = wildcard ? [] : raw.map(parseContact);
    return {
      aor: aorFor(to.uri.user, opts.domain ?? to.uri.host),
      user: to.uri.user,
      callId,
      cseq: Number(cseqMatch[1]),
      wildcard,
      contacts,
      expires,
      via,
      userAgent: msg.get('User-Agent') ?? null,
    };
  } catch (err) {
    if (err instanceof BadRegister) throw err;
    if (err instanceof HeaderSyntaxError) throw new BadRegister(err.message);
    throw err;
  }
}

function parseContact(text: string): ContactSpec {
  let addr;
  try {
    addr = parseNameAddr(text);
  } catch (err) {
    throw new BadRegister(`bad Contact: ${(err as Error).message}`);
  }
  const expiresParam = addr.params.get('expires');
  const regIdParam = addr.params.get('reg-id');
  if (regIdParam !== undefined && !/^\d{1,10}$/.test(regIdParam))
    throw new BadRegister(`bad reg-id: ${regIdParam}`);
  return {
    uriText: addr.uriText,
    uri: parseSipUri(addr.uriText),
    expires: expiresParam !== undefined ? parseDeltaSeconds(expiresParam, 'Contact expires') : null,
    instanceId: addr.params.get('+sip.instance') ?? null,
    regId: regIdParam !== undefined ? Number(regIdParam) : null,
    q: addr.params.get('q') ?? null,
  };
}
