/**
 * Sends every corpus message to a running Pinhole and checks each reply (or silence, or closed
 * connection) against what its manifest asks; used by the corpus test and by the soak.
 */
import { corpusMessages, withUniqueBranches, type CorpusMessage } from './corpus';
import { exchange, type Exchange, type WireProtocol } from './wire-client';

/** How long silence must last to count as "no reply". */
const SILENCE_MS = 1500;
const PARSER_WARNING = /\r\nWarning: 399 pinhole "/;

function finals(result: Exchange): string[] {
  return result.replies.filter((r) => /^SIP\/2\.0 [2-6]\d\d /.test(r));
}

function statusOf(reply: string): number {
  return Number(reply.slice(8, 11));
}

/** What went wrong with one message, or null when its handling matches. */
function mismatch(message: CorpusMessage, result: Exchange): string | null {
  const got = finals(result);
  const seen = `got [${result.replies.map((r) => r.split('\r\n')[0]).join(' | ')}]${result.closedByServer ? ' and a close' : ''}`;
  const handling = message.handling;
  switch (handling.kind) {
    case 'drop':
      return result.replies.length === 0 ? null : `expected no reply, ${seen}`;
    case 'close':
      return result.closedByServer && got.every((r) => statusOf(r) >= 400)
        ? null
        : `expected the connection closed, ${seen}`;
    case 'reject': {
      const first = got[0];
      if (!first || statusOf(first) !== handling.status || !PARSER_WARNING.test(first))
        return `expected ${handling.status} from the parser, ${seen}`;
      return null;
    }
    case 'answer': {
      const first = got[0];
      if (!first) return `expected a final response, ${seen}`;
      if (PARSER_WARNING.test(first)) return `expected it accepted, the parser refused it: ${seen}`;
      const status = statusOf(first);
      if (handling.status !== undefined)
        return status === handling.status ? null : `expected ${handling.status}, ${seen}`;
      // 501 is a processed answer (MESSAGE is not served); 500 would be a handler failing.
      return status !== 500 ? null : `expected it processed, ${seen}`;
    }
  }
}

/** Every corpus message over `protocol` at once; `wrong` lists each message handled otherwise. */
export async function sendCorpus(
  protocol: WireProtocol,
  host: string,
  port: number,
): Promise<{ messages: CorpusMessage[]; wrong: string[] }> {
  const messages = withUniqueBranches(corpusMessages(protocol));
  const results = await Promise.all(
    messages.map((m) =>
      exchange(m.data, {
        protocol,
        host,
        port,
        waitMs: SILENCE_MS,
        untilFinal: m.handling.kind === 'answer' || m.handling.kind === 'reject',
      }),
    ),
  );
  const wrong = messages
    .map((m, i) => ({ key: m.key, problem: mismatch(m, results[i]) }))
    .filter((w) => w.problem !== null)
    .map((w) => `${w.key}: ${w.problem}`);
  return { messages, wrong };
}
