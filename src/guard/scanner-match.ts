import type { SipRequest } from '../sipserver/message';

/**
 * Recognises SIP scanners by the names they announce: a case-insensitive substring of the
 * User-Agent or of the From display name (SIPVicious writes its name there).
 */
export class ScannerMatcher {
  private readonly needles: string[];

  constructor(names: readonly string[]) {
    this.needles = names.map((name) => name.toLowerCase());
  }

  /** The matching name, or null. */
  match(request: SipRequest): string | null {
    if (this.needles.length === 0) return null;
    const agent = request.get('user-agent');
    const found = agent === undefined ? null : this.find(agent.toLowerCase());
    return found ?? this.find(displayName(request.get('from')));
  }

  private find(text: string): string | null {
    if (text === '') return null;
    for (const needle of this.needles) if (text.includes(needle)) return needle;
    return null;
  }
}

/** What precedes the `<` of a From header, lower-cased; no parse, scanners send odd headers. */
function displayName(from: string | undefined): string {
  if (from === undefined) return '';
  const lt = from.indexOf('<');
  return lt <= 0 ? '' : from.slice(0, lt).toLowerCase();
}
