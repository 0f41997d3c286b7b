/**
 * Every RFC 4475 and RFC 5118 torture message sent to a running Pinhole over UDP and over TCP:
 * the reply (or the silence, or the closed connection) must be what the corpus manifest asks,
 * and afterwards Pinhole still serves and has nothing left over.
 */
import * as assert from 'node:assert/strict';
import { rfc4475, rfc5118 } from '../unit/message/corpus-files';
import { PHONE_IP } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { sendCorpus } from './support/corpus-run';
import { assertNothingLeft, assertServes } from './support/health';
import { startRobustPinhole, type RobustPinhole } from './support/robust-pinhole';
import type { WireProtocol } from './support/wire-client';

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
      const { messages, wrong } = await sendCorpus(protocol, PHONE_IP, pinhole.sipPort);
      assert.equal(messages.length, rfc4475().length + rfc5118().length, 'every manifest entry is sent');
      assert.deepEqual(wrong, [], wrong.join('\n'));
      const stats = await pinhole.running.sipServer!.refreshStats();
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
