import assert from 'node:assert/strict';
import type Srf from 'drachtio-srf';
import { eventually, startEmbedded, type EmbeddedHarness } from '../support/embedded';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { runSipp, startSippServer, type SippResult } from '../support/sipp';

/** Short timers so ACK timeouts and transaction lifetimes (64*T1 = 6.4 s) fit in a test. */
const TIMERS = { t1: 100, t2: 800, t4: 1000 };
const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

type Dialog = Srf.Dialog & { modify(sdp: string): Promise<string> };
interface AppEvents {
  destroyed: string[];
  uacStatus: number[];
}

/**
 * The app under test: a plain drachtio-srf app choosing its behaviour by the called user —
 * `uas` answers, `b2b-<port>` bridges to a sipp UAS at that port (relaying re-INVITEs both ways),
 * `auth-<port>` does the same with digest credentials for a challenging B side.
 */
function installCallApp(srf: Srf, events: AppEvents): void {
  srf.invite(async (req, res) => {
    const user = /^sips?:([^@;]+)@/.exec(req.uri)?.[1] ?? '';
    try {
      if (user === 'uas') {
        const dialog = await srf.createUAS(req, res, { localSdp: SDP });
        dialog.on('destroy', (bye) => events.destroyed.push(`uas:${bye.get('Reason') ?? ''}`));
        return;
      }
      const m = /^(b2b|auth)-(\d+)$/.exec(user);
      if (!m) {
        res.send(404);
        return;
      }
      const { uas, uac } = await srf.createB2BUA(
        req,
        res,
        `sip:callee@127.0.0.1:${m[2]};transport=${req.protocol}`,
        {
          localSdpB: req.body,
          proxyRequestHeaders: ['supported', 'require'],
          proxyResponseHeaders: ['require'],
          ...(m[1] === 'auth' ? { auth: { username: 'alice', password: 'wonderland' } } : {}),
        },
      );
      bridgeReinvites(uas as Dialog, uac as Dialog);
      bridgeReinvites(uac as Dialog, uas as Dialog);
      uas.on('destroy', () => {
        events.destroyed.push('a');
        uac.destroy();
      });
      uac.on('destroy', () => {
        events.destroyed.push('b');
        uas.destroy();
      });
    } catch (err) {
      events.uacStatus.push((err as { status?: number }).status ?? -1);
    }
  });
}

function bridgeReinvites(from: Dialog, to: Dialog): void {
  from.on('modify', (req, res) => {
    to.modify(req.body).then(
      (sdp) => res.send(200, { body: sdp }),
      () => res.send(488),
    );
  });
}

async function callThrough(
  uacScenario: string,
  uasScenario: string,
  harness: EmbeddedHarness,
  transport: 'udp' | 'tcp',
  user: (uasPort: number) => string,
  timeoutMs = 20000,
): Promise<{ a: SippResult; b: SippResult }> {
  const uasPort = await allocatePort();
  const uacPort = await allocatePort();
  const b = startSippServer({ scenario: uasScenario, localPort: uasPort, transport, calls: 1, timeoutMs });
  await b.ready;
  const a = await runSipp({
    scenario: uacScenario,
    remote: `127.0.0.1:${harness.sipPort}`,
    localPort: uacPort,
    transport,
    service: user(uasPort),
    timeoutMs,
  });
  const bResult = await b.done;
  return { a, b: bResult };
}

function assertPassed(result: SippResult, side: string): void {
  assert.equal(
    result.exitCode,
    0,
    `${side} failed (exit ${result.exitCode}):\n${result.errors}\n${result.messages.slice(-4000)}`,
  );
}

describe('embedded SIP server: INVITE dialogs with real drachtio-srf apps (issue 3)', function () {
  this.timeout(60000);
  let harness: EmbeddedHarness;
  let srf: Srf;
  const events: AppEvents = { destroyed: [], uacStatus: [] };

  before(async () => {
    harness = await startEmbedded({ timers: TIMERS });
    srf = await harness.connectApp();
    installCallApp(srf, events);
  });

  afterEach(async () => {
    await stopAll();
    await eventually(() => harness.server.stats().dialogs === 0, 'every dialog to be cleared', 8000).catch(
      (err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(harness.server.stats())}`);
      },
    );
  });

  after(async () => {
    await stopAll();
    await harness.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    describe(`over ${transport.toUpperCase()}`, () => {
      it('a UAS app answers a call and receives the BYE', async () => {
        const result = await runSipp({
          scenario: 'uac-call-bye.xml',
          remote: `127.0.0.1:${harness.sipPort}`,
          localPort: await allocatePort(),
          transport,
          service: 'uas',
        });
        assertPassed(result, 'caller');
      });

      it('a UAC app calls a sipp UAS and ends the call', async () => {
        const uasPort = await allocatePort();
        const b = startSippServer({
          scenario: 'uas-answer-wait-bye.xml',
          localPort: uasPort,
          transport,
          calls: 1,
        });
        await b.ready;
        const dialog = await srf.createUAC(`sip:callee@127.0.0.1:${uasPort};transport=${transport}`, {
          localSdp: SDP,
        });
        assert.match(dialog.remote.sdp, /m=audio/);
        await new Promise((r) => setTimeout(r, 200));
        dialog.destroy();
        assertPassed(await b.done, 'callee');
      });

      it('createB2BUA: 180/200/ACK and BYE from the caller', async () => {
        const { a, b } = await callThrough(
          'uac-call-bye.xml',
          'uas-answer-wait-bye.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: BYE from the callee', async () => {
        const { a, b } = await callThrough(
          'uac-call-wait-bye.xml',
          'uas-answer-send-bye.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: CANCEL before answer (A gets 487, B gets CANCEL)', async () => {
        const { a, b } = await callThrough(
          'uac-cancel.xml',
          'uas-ring-expect-cancel.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: 486 from B relayed to A', async () => {
        const { a, b } = await callThrough(
          'uac-expect-busy.xml',
          'uas-busy.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: a reliable 183 with PRACK on both legs', async () => {
        const { a, b } = await callThrough(
          'uac-prack.xml',
          'uas-prack-183.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: re-INVITE hold and resume from the caller', async () => {
        const { a, b } = await callThrough(
          'uac-reinvite-hold.xml',
          'uas-answer-accept-reinvite.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: re-INVITE hold and resume from the callee', async () => {
        const { a, b } = await callThrough(
          'uac-call-accept-reinvite.xml',
          'uas-answer-reinvite-hold.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: UPDATE in an early dialog', async () => {
        const { a, b } = await callThrough(
          'uac-update-early.xml',
          'uas-early-183-answer.xml',
          harness,
          transport,
          (p) => `b2b-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });

      it('createB2BUA: INVITE challenged with 401 and retried by the app with credentials', async () => {
        const { a, b } = await callThrough(
          'uac-call-bye.xml',
          'uas-401.xml',
          harness,
          transport,
          (p) => `auth-${p}`,
        );
        assertPassed(a, 'A');
        assertPassed(b, 'B');
      });
    });
  }

  describe('after the flows', () => {
    it('a retransmitted INVITE (UDP) reaches the app once and makes one dialog', async () => {
      const result = await runSipp({
        scenario: 'uac-invite-retrans.xml',
        remote: `127.0.0.1:${harness.sipPort}`,
        localPort: await allocatePort(),
        transport: 'udp',
        service: 'uas',
        extraArgs: ['-nr'],
      });
      assertPassed(result, 'caller');
    });

    it('a lost ACK ends the call with a BYE and tells the app (UDP)', async () => {
      events.destroyed.length = 0;
      const result = await runSipp({
        scenario: 'uac-no-ack.xml',
        remote: `127.0.0.1:${harness.sipPort}`,
        localPort: await allocatePort(),
        transport: 'udp',
        service: 'uas',
        timeoutMs: 45000,
      });
      assertPassed(result, 'caller');
      assert.ok(
        events.destroyed.some((d) => d.includes('ACK timeout')),
        `app saw destroy with ACK timeout: ${events.destroyed}`,
      );
    });

    it('leaves no transaction, dialog or pending request in memory once flows end', async () => {
      await eventually(
        () => {
          const s = harness.server.stats();
          return (
            s.transactions.server === 0 &&
            s.transactions.client === 0 &&
            s.dialogs === 0 &&
            s.inboundRequests === 0 &&
            s.outboundRequests === 0 &&
            s.pendingAcks === 0
          );
        },
        'all counters to drop to zero',
        15000,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(harness.server.stats())}`);
      });
    });
  });
});
