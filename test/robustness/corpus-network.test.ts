/**
 * Every RFC 4475 and RFC 5118 torture message sent to a running Pinhole over UDP and over TCP:
 * the reply (or the silence, or the closed connection) must be what the corpus manifest asks,
 * and afterwards Pinhole still serves and has nothing left over.
 */
import * as assert from 'node:assert/strict';
import { rfc4475, rfc5118 } from '../unit/message/corpus-files';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { corpusMessages, withUniqueBranches, type CorpusMessage } from './support/corpus';
import { assertNothingLeft, assertServes } from './support/health';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';
import { exchange, type Exchange, type WireProtocol } from './support/wire-client';

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

for (const protocol of ['udp', 'tcp'] as WireProtocol[]) {
  describe(`RFC 4475 / RFC 5118 corpus over ${protocol.toUpperCase()} to a running Pinhole`, function () {
    this.timeout(30000);
    let pinhole: RobustPinhole;

    before(async () => {
      pinhole = await startRobustPinhole({ pbxPort: await allocatePort(), media: false });
    });
    after(async () => {
      await pinhole?.stop();
    });

    it('handles every message as its manifest says and stays healthy', async () => {
      const messages = withUniqueBranches(corpusMessages(protocol));
      assert.equal(messages.length, rfc4475().length + rfc5118().length, 'every manifest entry is sent');
      const results = await Promise.all(
        messages.map((m) =>
          exchange(m.data, {
            protocol,
            host: PHONE_IP,
            port: pinhole.sipPort,
            waitMs: SILENCE_MS,
            untilFinal: m.handling.kind === 'answer' || m.handling.kind === 'reject',
          }),
        ),
      );
      const wrong = messages
        .map((m, i) => ({ key: m.key, problem: mismatch(m, results[i]) }))
        .filter((w) => w.problem !== null)
        .map((w) => `${w.key}: ${w.problem}`);
      assert.deepEqual(wrong, [], wrong.join('\n'));
      const stats = pinhole.running.sipServer!.stats();
      const rejected = messages.filter((m) => m.handling.kind !== 'answer').length;
      assert.ok(
        stats.badInput > 0 && stats.badInput <= rejected,
        `badInput ${stats.badInput} of ${rejected}`,
      );
      await assertServes(pinhole);
      await assertNothingLeft(pinhole);
    });
  });
}
