import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { Browser, BrowserContext, JSHandle, Page } from 'playwright-core';
import type { CallRecord } from '../../src/b2bua';
import { createLogger } from '../../src/logging';
import { startSoftphoneServer, type SoftphoneServer } from '../../src/web/softphone-server';
import { eventually } from '../support/embedded';
import { PBX_IP, REALM } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { RtpEndpoint } from '../support/rtp-endpoint';
import { runSipp, startSippServer, type SippResult, type SippServer } from '../support/sipp';
import { launchChromium, recordConsole } from './webrtc/browser';
import { startWebrtcPinhole, USERS, type WebrtcPinhole } from './webrtc/pinhole';

/** What src/web/softphone.js puts on window.softphone (the subset the tests use). */
interface SoftphoneApi {
  ready?: boolean;
  register(account?: { server?: string; user?: string; password?: string; domain?: string }): Promise<void>;
  call(target: string): Promise<void>;
  hangup(): Promise<void>;
  setAutoAnswer(enabled: boolean): void;
  readonly state: { registration: string; call: string; peer: string | null; error: string | null };
  mediaStats(): Promise<MediaStats | null>;
  inboundAudioPackets(): Promise<number>;
}

interface MediaStats {
  packetsReceived: number;
  packetsSent: number;
  codec: string | null;
  srtpCipher: string | null;
  dtlsRole: string | null;
}

/** The page's globals; tsc here has no DOM types. */
type PageGlobals = { softphone?: SoftphoneApi };

/** 50 packets of 20 ms are one second of audio each way; the PBX streams 8 s. */
const PACKETS_WANTED = 50;
const PBX_STREAM_PACKETS = 400;
const MEDIA_TIMEOUT_MS = 10000;

function get(
  url: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string; csp: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
          csp: String(res.headers['content-security-policy'] ?? ''),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('softphone page server', function () {
  let server: SoftphoneServer | undefined;

  before(async () => {
    server = await startSoftphoneServer({
      listen: { host: '127.0.0.1', port: 0 },
      sipWebSocketUrl: 'ws://127.0.0.1:48088',
      logger: createLogger('error'),
    });
  });

  after(async () => server?.close());

  it('serves the page, its script and its config with a CSP that loads code only from itself', async () => {
    const page = await get(server!.url);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<script type="module" src="softphone.js">/);
    assert.match(page.csp, /default-src 'self'/);
    const script = await get(`${server!.url}softphone.js`);
    assert.match(script.type, /^text\/javascript/);
    assert.match(script.body, /from '\.\/sipjs\/index\.js'/);
    const config = await get(`${server!.url}config.json`);
    assert.deepEqual(JSON.parse(config.body), { sipWebSocketUrl: 'ws://127.0.0.1:48088' });
  });

  it('serves SIP.js modules as JavaScript and nothing outside its lib directory', async () => {
    const index = await get(`${server!.url}sipjs/index.js`);
    assert.equal(index.status, 200);
    assert.match(index.type, /^text\/javascript/);
    assert.match(index.body, /export \* from "\.\/api\/index\.js"/);
    assert.equal((await get(`${server!.url}sipjs/api/user-agent.js`)).status, 200);
    assert.equal((await get(`${server!.url}sipjs/index.d.ts`)).status, 404);
    assert.equal((await get(`${server!.url}sipjs/..%2f..%2fplaywright-core%2findex.js`)).status, 404);
    assert.equal((await get(`${server!.url}sipjs/%2e%2e/package.json`)).status, 404);
    assert.equal((await get(`${server!.url}nothing-here`)).status, 404);
    assert.equal((await get(server!.url, 'POST')).status, 405);
  });
});

describe('WebRTC: SIP.js in Chromium -> Pinhole (WSS, DTLS-SRTP) -> sipp PBX (RTP)', function () {
  this.timeout(90000);
  let pinhole: WebrtcPinhole | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  /** window.softphone once the page has loaded: evaluate() bodies receive it as their argument. */
  let phone: JSHandle<SoftphoneApi> | undefined;
  let pbxPort = 0;
  let consoleLines: string[] = [];
  const records: CallRecord[] = [];
  const endpoints: RtpEndpoint[] = [];
  let pbx: SippServer | undefined;

  before(async function () {
    pbxPort = await allocatePort();
    pinhole = await startWebrtcPinhole({ pbxPort });
    pinhole.running.b2bua.on('call-record', (record: CallRecord) => records.push(record));
    browser = await launchChromium(pinhole.certificate.spkiHash);
    context = await browser.newContext();
    page = await context.newPage();
    consoleLines = recordConsole(page);
  });

  afterEach(async () => {
    await pbx?.stop();
    pbx = undefined;
    await Promise.all(endpoints.splice(0).map((endpoint) => endpoint.close()));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await pinhole?.stop();
    await stopAll();
  });

  function thePage(): Page {
    assert.ok(page, 'no browser page');
    return page;
  }

  function thePhone(): JSHandle<SoftphoneApi> {
    assert.ok(phone, 'the softphone page did not load');
    return phone;
  }

  function diagnostics(): string {
    return `\nbrowser console:\n${consoleLines.join('\n')}`;
  }

  async function openPbxMedia(): Promise<RtpEndpoint> {
    const endpoint = await RtpEndpoint.open({ address: PBX_IP });
    endpoints.push(endpoint);
    return endpoint;
  }

  /**
   * Waits for the browser's audio to reach the PBX, then streams PBX audio back to where it came
   * from: rtpengine sends from the port it gave the PBX, so that is where the PBX must send.
   */
  async function answerMediaFromPbx(endpoint: RtpEndpoint): Promise<void> {
    const first = await endpoint.waitForReceived(1, MEDIA_TIMEOUT_MS);
    assert.ok(first >= 1, `no RTP from the browser reached the PBX${diagnostics()}`);
    const [source] = [...endpoint.sources];
    const split = source.lastIndexOf(':');
    void endpoint.send(
      { host: source.slice(0, split), port: Number(source.slice(split + 1)) },
      PBX_STREAM_PACKETS,
    );
  }

  async function waitForInboundPackets(count: number): Promise<number> {
    const deadline = Date.now() + MEDIA_TIMEOUT_MS;
    let packets = 0;
    while (Date.now() < deadline) {
      packets = await thePhone().evaluate((api) => api.inboundAudioPackets());
      if (packets > count) return packets;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return packets;
  }

  async function waitForCallState(wanted: string): Promise<void> {
    try {
      await thePage().waitForFunction(
        ([api, state]) => api.state.call === state,
        [thePhone(), wanted] as const,
        {
          timeout: 15000,
        },
      );
    } catch (err) {
      const state = await thePhone().evaluate((api) => api.state);
      throw new Error(
        `call state ${JSON.stringify(state)}, wanted ${wanted}: ${(err as Error).message}${diagnostics()}`,
      );
    }
  }

  async function expectNothingLeft(): Promise<void> {
    await eventually(
      () => {
        const left = pinhole!.leftovers();
        return left.calls === 0 && left.media === 0 && left.dialogs === 0;
      },
      `calls, media sessions and dialogs to be released: ${JSON.stringify(pinhole!.leftovers())}`,
    );
  }

  it('loads the page over HTTPS and registers 1001 over WSS from the form', async () => {
    const p = thePage();
    await p.goto(pinhole!.pageUrl);
    await p.waitForFunction(() => (globalThis as PageGlobals).softphone?.ready === true);
    phone = (await p.evaluateHandle(() => (globalThis as PageGlobals).softphone!)) as JSHandle<SoftphoneApi>;
    assert.equal(
      await p.inputValue('#server'),
      pinhole!.sipWebSocketUrl,
      'server field prefilled from config',
    );
    await p.fill('#user', '1001');
    await p.fill('#password', USERS['1001']);
    await p.fill('#domain', REALM);
    await p.click('#register');
    try {
      await p.waitForFunction((api) => api.state.registration === 'registered', thePhone(), {
        timeout: 10000,
      });
    } catch (err) {
      const state = await thePhone().evaluate((api) => api.state);
      throw new Error(`not registered: ${JSON.stringify(state)} ${(err as Error).message}${diagnostics()}`);
    }
    assert.match((await p.textContent('#status')) ?? '', /^registered/);
    const bindings = await pinhole!.running.registrar.lookup(`1001@${REALM}`);
    assert.equal(bindings.length, 1);
  });

  it('calls the PBX: audio flows both ways, DTLS-SRTP to the browser and RTP to the PBX', async () => {
    const media = await openPbxMedia();
    pbx = startSippServer({
      scenario: 'b2b-pbx-answer.xml',
      localPort: pbxPort,
      localAddress: PBX_IP,
      calls: 1,
      keys: { sdp_ip: PBX_IP, rtp_port: String(media.port) },
      timeoutMs: 60000,
    });
    await pbx.ready;
    await thePhone().evaluate((api) => api.call('2000'));
    await waitForCallState('established');
    await answerMediaFromPbx(media);
    const inbound = await waitForInboundPackets(PACKETS_WANTED);
    const fromBrowser = await media.waitForReceived(PACKETS_WANTED + 1, MEDIA_TIMEOUT_MS);
    const stats = await thePhone().evaluate((api) => api.mediaStats());
    console.log(
      `      browser -> PBX: ${fromBrowser} RTP packets; PBX -> browser: ${inbound} (stats ${JSON.stringify(stats)})`,
    );
    assert.ok(inbound > PACKETS_WANTED, `browser inbound-rtp packetsReceived ${inbound}${diagnostics()}`);
    assert.ok(fromBrowser > PACKETS_WANTED, `PBX received ${fromBrowser} RTP packets`);
    assert.ok(stats?.srtpCipher, 'the browser leg is SRTP-protected');
    assert.equal(stats?.codec, 'audio/PCMU');

    await thePhone().evaluate((api) => api.hangup());
    await waitForCallState('idle');
    const pbxSide: SippResult = await pbx.done;
    pbx = undefined;
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages + pbxSide.errors);
    await eventually(() => records.length === 1, 'the call record');
    assert.equal(records[0].finalStatus, 200);
    assert.equal(records[0].endReason, 'caller-bye');
    assert.equal(records[0].anchored, true);
    assert.deepEqual(
      records[0].legs.map((leg) => [leg.side, leg.kind]),
      [
        ['caller', 'webrtc'],
        ['callee', 'pbx'],
      ],
    );
    await expectNothingLeft();
  });

  it('takes a call from the PBX: auto-answers, audio both ways, PBX hangs up', async () => {
    const media = await openPbxMedia();
    await thePhone().evaluate((api) => api.setAutoAnswer(true));
    const caller = runSipp({
      scenario: 'b2b-pbx-call.xml',
      remote: `127.0.0.1:${pinhole!.sipPort}`,
      localPort: await allocatePort(),
      localAddress: PBX_IP,
      service: '1001',
      keys: { caller: '2000', sdp_ip: PBX_IP, rtp_port: String(media.port) },
      // The call lasts this long after the ACK; the checks below must finish within it.
      pauseMs: 8000,
      timeoutMs: 40000,
    });
    await waitForCallState('established');
    await answerMediaFromPbx(media);
    const inbound = await waitForInboundPackets(PACKETS_WANTED);
    const fromBrowser = await media.waitForReceived(PACKETS_WANTED + 1, MEDIA_TIMEOUT_MS);
    const stats = await thePhone().evaluate((api) => api.mediaStats());
    console.log(
      `      browser -> PBX: ${fromBrowser} RTP packets; PBX -> browser: ${inbound} (stats ${JSON.stringify(stats)})`,
    );
    assert.ok(inbound > PACKETS_WANTED, `browser inbound-rtp packetsReceived ${inbound}${diagnostics()}`);
    assert.ok(fromBrowser > PACKETS_WANTED, `PBX received ${fromBrowser} RTP packets`);
    assert.ok(stats?.srtpCipher, 'the browser leg is SRTP-protected');

    const pbxSide = await caller;
    assert.equal(pbxSide.successfulCalls, 1, pbxSide.messages + pbxSide.errors);
    await waitForCallState('idle');
    await eventually(() => records.length === 2, 'the call record');
    assert.equal(records[1].finalStatus, 200);
    assert.equal(records[1].anchored, true);
    assert.deepEqual(
      records[1].legs.map((leg) => [leg.side, leg.kind]),
      [
        ['caller', 'pbx'],
        ['callee', 'webrtc'],
      ],
    );
    await expectNothingLeft();
  });
});
