/**
 * The admin dashboard in headless Chromium against the whole product (startTestPinhole with the
 * admin listener): registered SIPp phones behind a "NAT", a call from one of them to a SIPp PBX
 * with real RTP both ways, and the call hung up from the page. The screenshot taken while the call
 * is up goes to a temporary file; with PINHOLE_SCREENSHOT=docs/dashboard.png it refreshes the
 * README's picture (a plain `make test` leaves the working tree untouched).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { delay, eventually } from '../support/embedded';
import { PBX_IP, PHONE_IP, REALM, startTestPinhole, type TestPinhole } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { runSipp, startSippServer } from '../support/sipp';
import { PASSWORDS, registerPhone, startLiveCall, type LiveCall, type Phone } from './dashboard/phones';
import { launchChromium, recordConsole } from './webrtc/browser';

const SCREENSHOT = process.env.PINHOLE_SCREENSHOT
  ? path.resolve(repositoryRoot(), process.env.PINHOLE_SCREENSHOT)
  : path.join(os.tmpdir(), `pinhole-dashboard-${process.pid}.png`);
const VIEWPORT = { width: 1280, height: 900 };
const UI_TIMEOUT_MS = 15000;

/** Where package.json is, from test/e2e or dist/test/e2e alike. */
function repositoryRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

describe('admin dashboard in Chromium: registrations, a live call, hang up from the page', function () {
  this.timeout(90000);
  let pinhole: TestPinhole | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let consoleLines: string[] = [];
  let call: LiveCall | undefined;
  let callId = '';
  let pbxPort = 0;
  let caller: Phone;
  let other: Phone;

  before(async () => {
    pbxPort = await allocatePort();
    caller = { user: '1001', lanIp: '192.168.77.10', port: await allocatePort() };
    other = { user: '1002', lanIp: '192.168.77.20', port: await allocatePort() };
    pinhole = await startTestPinhole({ pbxPort, admin: true });
    // Plain HTTP on loopback: there is no certificate to trust.
    browser = await launchChromium('');
    const context = await browser.newContext({ viewport: VIEWPORT });
    page = await context.newPage();
    consoleLines = recordConsole(page);
  });

  after(async () => {
    await browser?.close();
    await call?.close();
    await pinhole?.stop();
    await stopAll();
  });

  function thePage(): Page {
    assert.ok(page, 'no browser page');
    return page;
  }

  function diagnostics(): string {
    return `\nbrowser console:\n${consoleLines.join('\n')}`;
  }

  /** Waits for `selector` to match, with what the page logged in the error if it never does. */
  async function waitFor(selector: string, state: 'attached' | 'detached' = 'attached'): Promise<void> {
    try {
      await thePage().locator(selector).first().waitFor({ state, timeout: UI_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`${selector} never ${state}: ${(err as Error).message}${diagnostics()}`);
    }
  }

  function registrationRow(user: string): string {
    return `#registrations tr[data-aor="sip:${user}@${REALM}"]`;
  }

  function callRow(): string {
    return `#calls tr[data-call-id="${callId}"]`;
  }

  async function packets(): Promise<{ forward: number; back: number }> {
    const read = async (name: string) =>
      Number(await thePage().getAttribute(`${callRow()} td.${name}`, 'data-packets'));
    return { forward: await read('packets-forward'), back: await read('packets-back') };
  }

  /** Both of the live call's counters above `floor`, as the page shows them. */
  async function waitForPacketsAbove(floor: { forward: number; back: number }): Promise<void> {
    const deadline = Date.now() + UI_TIMEOUT_MS;
    let now = await packets();
    while (!(now.forward > floor.forward && now.back > floor.back)) {
      assert.ok(Date.now() < deadline, `packet counters stuck at ${JSON.stringify(now)}${diagnostics()}`);
      await delay(200);
      now = await packets();
    }
  }

  it('lists the registered phones with source, transport, user agent and NAT verdict from SIP', async () => {
    await registerPhone(caller, pinhole!.sipPort);
    await registerPhone(other, pinhole!.sipPort);
    const p = thePage();
    await p.goto(`${pinhole!.adminUrl}/`);
    await waitFor(registrationRow(caller.user));
    await waitFor(registrationRow(other.user));

    const row = registrationRow(caller.user);
    assert.equal(await p.textContent(`${row} td.source`), `${PHONE_IP}:${caller.port}`);
    assert.equal(await p.textContent(`${row} td.transport`), 'UDP');
    assert.equal(await p.textContent(`${row} td.user-agent`), 'sipp-nat-phone');
    assert.equal(await p.getAttribute(`${row} [data-nat]`, 'data-nat'), 'nat');
    assert.match(
      (await p.getAttribute(`${row} [data-nat]`, 'title')) ?? '',
      new RegExp(`contact-private:${caller.lanIp.replace(/\./g, '\\.')}`),
    );
    assert.equal(await p.textContent('[data-counter="bindings"]'), '2');
    assert.equal(await p.textContent('[data-counter="natted"]'), '2');

    // The search runs on the server; the page shows only what matched.
    await p.fill('#registration-search', other.lanIp);
    await waitFor(registrationRow(caller.user), 'detached');
    assert.equal(await p.locator('#registrations tr[data-aor]').count(), 1);
    assert.match((await p.textContent('#registrations-range')) ?? '', /of 1$/);
    await p.fill('#registration-search', '');
    await p.locator('#registration-search').blur();
    await waitFor(registrationRow(caller.user));
  });

  it('shows a finished call in recent calls and in the last-hour chart', async () => {
    const pbx = startSippServer({
      scenario: 'b2b-pbx-answer.xml',
      localPort: pbxPort,
      localAddress: PBX_IP,
      calls: 1,
      keys: { sdp_ip: PBX_IP, rtp_port: '20020' },
    });
    await pbx.ready;
    const phoneSide = await runSipp({
      scenario: 'b2b-phone-call.xml',
      remote: `${PHONE_IP}:${pinhole!.sipPort}`,
      localPort: other.port,
      service: '2000',
      keys: { caller: other.user, sdp_ip: other.lanIp, rtp_port: '20022' },
      extraArgs: ['-au', other.user, '-ap', PASSWORDS[other.user]],
      pauseMs: 500,
    });
    assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
    assert.equal((await pbx.done).successfulCalls, 1);
    await eventually(() => pinhole!.records.length === 1, 'the call record');
    const record = pinhole!.records[0];
    const row = `#records tr[data-call-id="${record.callId}"]`;
    await waitFor(row);
    const p = thePage();
    assert.equal(await p.textContent(`${row} td.from`), other.user);
    assert.equal(await p.textContent(`${row} td.status`), '200');
    assert.equal(await p.textContent(`${row} td.end`), 'caller-bye');
    await waitFor('#history[data-calls="1"][data-failed="0"]');
    assert.equal(await p.locator('#history rect.bar-calls').count(), 1);
  });

  it('shows the live call: both legs, the RTP-learned NAT verdict, packet counters rising each way', async () => {
    call = await startLiveCall(caller, pinhole!.sipPort, pbxPort);
    await waitFor('#calls tr[data-state="established"]');
    const p = thePage();
    callId = (await p.getAttribute('#calls tr[data-state="established"]', 'data-call-id')) ?? '';
    assert.equal(callId, pinhole!.running.b2bua.activeCalls()[0]?.callId);
    assert.equal(await p.textContent(`${callRow()} td.from`), caller.user);
    assert.equal(await p.textContent(`${callRow()} td.to`), '2000');
    assert.match((await p.textContent(`${callRow()} td.callee`)) ?? '', new RegExp(`@${PBX_IP}:${pbxPort}`));
    // rtpengine saw the phone's RTP come from the port its SDP announced: a port-keeping NAT.
    await waitFor(`${callRow()} td.caller [data-nat="cone"]`);

    await waitForPacketsAbove({ forward: 0, back: 0 });
    const first = await packets();
    await waitForPacketsAbove(first);
    const second = await packets();
    console.log(`      packets on the page: ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
    assert.ok(second.forward > first.forward && second.back > first.back);
    assert.equal(await p.textContent('[data-counter="active"]'), '1');

    await waitFor('#connection[data-state="live"]');
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await p.screenshot({ path: SCREENSHOT });
    assert.ok(fs.statSync(SCREENSHOT).size > 10000, 'the screenshot has something in it');
    if (!process.env.PINHOLE_SCREENSHOT) fs.rmSync(SCREENSHOT, { force: true });
  });

  it('hangs the call up from the page: BYE to both sides, the row goes, a record comes', async () => {
    const live = call!;
    const p = thePage();
    await p.click(`${callRow()} button[data-action="hangup"]`);

    const phoneSide = await live.phone.done;
    assert.equal(phoneSide.exitCode, 0, phoneSide.messages + phoneSide.errors);
    assert.equal(phoneSide.successfulCalls, 1, 'the phone got a BYE and answered it');
    await waitFor(callRow(), 'detached');
    assert.equal(await p.isVisible('#calls tbody.empty'), true);
    await waitFor(`#records tr[data-call-id="${callId}"]`);
    assert.equal(await p.textContent(`#records tr[data-call-id="${callId}"] td.end`), 'hangup');
    assert.equal(await p.textContent(`#records tr[data-call-id="${callId}"] td.status`), '200');
    await live.close();
    const pbxSide = await live.pbx.done;
    assert.equal(pbxSide.successfulCalls, 1, `the PBX got no BYE:\n${pbxSide.messages}`);
    call = undefined;
    // What the call's RTP showed now refines the phone's registration too.
    await waitFor(`${registrationRow(caller.user)} [data-nat="cone"]`);
    await eventually(
      () => {
        const left = pinhole!.leftovers();
        return left.calls === 0 && left.media === 0 && left.dialogs === 0;
      },
      `calls, media sessions and dialogs released: ${JSON.stringify(pinhole!.leftovers())}`,
    );
  });

  it('ran without script errors or content-security-policy violations', () => {
    const problems = consoleLines.filter((line) => /^(error|pageerror)/.test(line));
    assert.deepEqual(problems, []);
  });
});

describe('admin dashboard with a bearer token', function () {
  this.timeout(60000);
  const TOKEN = 'dashboard-test-token-0123456789';
  let pinhole: TestPinhole | undefined;
  let browser: Browser | undefined;

  before(async () => {
    pinhole = await startTestPinhole({ pbxPort: await allocatePort(), admin: { token: TOKEN } });
    browser = await launchChromium('');
  });

  after(async () => {
    await browser?.close();
    await pinhole?.stop();
    await stopAll();
  });

  it('sends the token from #token= on its requests and its event stream, and says so without it', async () => {
    const page = await browser!.newPage();
    const consoleLines = recordConsole(page);
    await page.goto(`${pinhole!.adminUrl}/#token=${TOKEN}`);
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.equal(await page.textContent('[data-counter="bindings"]'), '0');
    assert.equal(await page.isVisible('#registrations tbody.empty'), true);
    assert.equal(await page.isVisible('#error'), false);
    assert.deepEqual(
      consoleLines.filter((line) => /^(error|pageerror)/.test(line)),
      [],
    );

    // The page and its files hold no data and load without the token; the API refuses.
    const refused = await browser!.newPage();
    const response = await refused.goto(`${pinhole!.adminUrl}/`);
    assert.equal(response?.status(), 200);
    await refused.locator('#error').waitFor({ timeout: UI_TIMEOUT_MS });
    assert.match((await refused.textContent('#error')) ?? '', /HTTP 401/);
    assert.notEqual(await refused.getAttribute('#connection', 'data-state'), 'live');
  });
});
