import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Srf from 'drachtio-srf';
import { createLogger } from '../../src/logging';
import { DigestAuthenticator } from '../../src/registrar/authenticator';
import { FileBindingStore } from '../../src/registrar/file-store';
import { Registrar } from '../../src/registrar/registrar';
import { UserDirectory } from '../../src/registrar/users';
import { startEmbedded, type EmbeddedHarness } from '../support/embedded';
import { allocatePort } from '../support/ports';
import { parseMessageLog, runSipp } from '../support/sipp';
import {
  answerOptions,
  registerText,
  statusLine,
  tcpPhone,
  udpPhone,
  type RawPhone,
} from '../unit/registrar/raw-phone';

const REALM = 'test.pinhole';
const USERS = `"1001": {password: secret1001}\n"1002": {password: secret1002}\n`;

interface Setup {
  harness: EmbeddedHarness;
  srf: Srf;
  registrar: Registrar;
  store: FileBindingStore;
  dir: string;
}

async function setup(opts: { auth: boolean; maxFailures?: number; t1?: number }): Promise<Setup> {
  const t1 = opts.t1 ?? 500;
  const harness = await startEmbedded({ timers: { t1, t2: 4000, t4: 5000 } });
  const srf = await harness.connectApp();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-registrar-'));
  const store = await FileBindingStore.open(path.join(dir, 'bindings.json'));
  const registrar = new Registrar({
    domain: REALM,
    authenticator: opts.auth
      ? new DigestAuthenticator({
          realm: REALM,
          users: UserDirectory.fromYaml(USERS, REALM),
          algorithms: ['MD5', 'SHA-256'],
          nonceLifetimeMs: 60000,
          secret: Buffer.from('integration-test-secret'),
        })
      : null,
    policy: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, natUdpExpires: 60 },
    maxContacts: 5,
    localNetworks: [],
    store,
    keepalive: { intervalMs: 0, maxFailures: opts.maxFailures ?? 2 },
    logger: createLogger(process.env.REGISTRAR_TEST_LOG ?? 'error'),
  });
  registrar.install(srf);
  return { harness, srf, registrar, store, dir };
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.registrar.stop();
  await s.harness.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

type RequestFn = (
  uri: string,
  opts: { method: string; proxy?: string; headers?: Record<string, string> },
  cb: (err: unknown, req: { on(e: 'response', l: (res: { status: number }) => void): void }) => void,
) => void;

function options(srf: Srf, uri: string, proxy: string, headers: Record<string, string>): Promise<number> {
  const request = (srf.request as unknown as RequestFn).bind(srf);
  return new Promise((resolve, reject) => {
    request(uri, { method: 'OPTIONS', proxy, headers }, (err, req) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      req.on('response', (res) => {
        if (res.status >= 200) resolve(res.status);
      });
    });
  });
}

describe('registrar with the embedded server (sipp phones)', function () {
  this.timeout(30000);
  let s: Setup | undefined;
  beforeEach(async () => {
    s = await setup({ auth: true });
  });
  afterEach(async () => {
    await teardown(s);
    s = undefined;
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`${transport}: 401, digest, 200 with the binding list; OPTIONS to the AoR reaches the phone's source port`, async () => {
      const { harness, registrar, srf, store } = s!;
      const localPort = await allocatePort();
      const phone = runSipp({
        scenario: 'registrar-auth-options.xml',
        remote: `127.0.0.1:${harness.sipPort}`,
        localPort,
        transport,
        service: '1001',
        extraArgs: ['-au', '1001', '-ap', 'secret1001'],
        timeoutMs: 15000,
      });
      let targets: Awaited<ReturnType<Registrar['lookup']>> = [];
      const deadline = Date.now() + 10000;
      while (targets.length === 0 && Date.now() < deadline) {
        targets = await registrar.lookup('1001');
        if (targets.length === 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(targets.length, 1, 'one binding after the 200');
      const [target] = targets;
      assert.equal(target.contact, `sip:1001@192.168.1.50:5062;transport=${transport.toUpperCase()}`);
      assert.equal(target.flow.sourceAddress, '127.0.0.1');
      assert.equal(target.flow.sourcePort, localPort);
      assert.equal(target.transport, transport);
      assert.equal(target.natVerdict.natted, true);
      assert.ok(
        target.natVerdict.reasons.includes('contact-private:192.168.1.50'),
        target.natVerdict.reasons.join(),
      );
      const expiresIn = (target.expiresAt - Date.now()) / 1000;
      if (transport === 'udp')
        assert.ok(expiresIn <= 60 && expiresIn > 55, `NATed UDP capped at 60 s, got ${expiresIn}`);
      else assert.ok(expiresIn > 3500, `TCP keeps the requested 3600 s, got ${expiresIn}`);

      // SIPp maps incoming requests to its (UAC) call by Call-ID only, so the OPTIONS reuses the
      // REGISTER's; a real phone takes an out-of-dialog OPTIONS with any Call-ID.
      const [binding] = await store.get('sip:1001@test.pinhole');
      assert.equal(await options(srf, target.contact, target.proxy, { 'Call-ID': binding.callId }), 200);
      const result = await phone;
      assert.equal(result.exitCode, 0, result.messages + result.errors);
      const log = parseMessageLog(result.messages);
      const challenge = log.find((m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 401'));
      assert.ok(challenge, 'a 401 was received');
      const lines = challenge.text.split('\r\n').filter((l) => /^WWW-Authenticate:/i.test(l));
      assert.equal(lines.length, 2, 'MD5 and SHA-256 challenges on separate lines');
      assert.match(lines[0], /algorithm=MD5/);
      assert.match(lines[1], /algorithm=SHA-256/);
    });
  }

  it('wrong password: 403 after the challenge, and no binding', async () => {
    const { harness, registrar } = s!;
    const result = await runSipp({
      scenario: 'registrar-wrong-password.xml',
      remote: `127.0.0.1:${harness.sipPort}`,
      localPort: await allocatePort(),
      service: '1002',
      extraArgs: ['-au', '1002', '-ap', 'not-the-password'],
      timeoutMs: 10000,
    });
    assert.equal(result.exitCode, 0, result.errors || result.stdout.slice(-2000));
    assert.deepEqual(await registrar.lookup('1002'), []);
  });
});

describe('registrar: malformed REGISTERs and keepalive (raw phones)', function () {
  this.timeout(30000);
  let s: Setup | undefined;
  const phones: RawPhone[] = [];
  afterEach(async () => {
    for (const p of phones.splice(0)) await p.close().catch(() => undefined);
    await teardown(s);
    s = undefined;
  });

  it('answers malformed REGISTERs with 400 and a reason, changing nothing', async () => {
    s = await setup({ auth: false });
    const phone = await udpPhone(s.harness.sipPort);
    phones.push(phone);
    phone.send(registerText({ user: 'bob', serverPort: s.harness.sipPort }));
    await phone.waitFor((m) => statusLine(m)?.status === 200);
    const before = await s.registrar.lookup('bob');
    assert.equal(before.length, 1);
    const cases: [string, string][] = [
      [registerText({ user: 'bob', serverPort: s.harness.sipPort, cseq: 2, expires: 'soon' }), 'bad Expires'],
      [
        registerText({
          user: 'bob',
          serverPort: s.harness.sipPort,
          cseq: 3,
          contacts: Array.from({ length: 6 }, (_, i) => `<sip:bob@192.168.1.50:${5070 + i}>`),
        }),
        'too many contacts',
      ],
      [
        registerText({ user: 'bob', serverPort: s.harness.sipPort, cseq: 4, contacts: ['<tel:+15551234>'] }),
        'bad Contact',
      ],
    ];
    for (const [text, reason] of cases) {
      const from = phone.received.length;
      phone.send(text);
      const reply = await phone.waitFor(
        (m) => statusLine(m) !== null && statusLine(m)!.status >= 200,
        5000,
        from,
      );
      const line = statusLine(reply)!;
      assert.equal(line.status, 400, reply);
      assert.ok(line.reason.includes(reason), `${line.reason} mentions ${reason}`);
    }
    assert.deepEqual(await s.registrar.lookup('bob'), before);
  });

  it('removes a UDP binding after maxFailures unanswered keepalives, keeps one that answers', async () => {
    s = await setup({ auth: false, maxFailures: 2, t1: 50 });
    const silent = await udpPhone(s.harness.sipPort);
    const alive = await udpPhone(s.harness.sipPort);
    phones.push(silent, alive);
    const stopAnswering = answerOptions(alive);
    try {
      silent.send(registerText({ user: 'silent', serverPort: s.harness.sipPort }));
      alive.send(registerText({ user: 'alive', serverPort: s.harness.sipPort }));
      await silent.waitFor((m) => statusLine(m)?.status === 200);
      await alive.waitFor((m) => statusLine(m)?.status === 200);
      const first = await s.registrar.keepaliveNow();
      assert.deepEqual(first, { pinged: 2, removed: 0 });
      assert.ok(
        silent.received.some((m) => m.startsWith('OPTIONS sip:silent@192.168.1.50:5062')),
        'OPTIONS reached the silent phone',
      );
      const second = await s.registrar.keepaliveNow();
      assert.deepEqual(second, { pinged: 2, removed: 1 });
      assert.equal((await s.registrar.lookup('silent')).length, 0);
      assert.equal((await s.registrar.lookup('alive')).length, 1);
    } finally {
      stopAnswering();
    }
  });

  it('removes a TCP binding whose connection closed at the first failed keepalive', async () => {
    s = await setup({ auth: false });
    const phone = await tcpPhone(s.harness.sipPort);
    phones.push(phone);
    phone.send(registerText({ user: 'tcpphone', serverPort: s.harness.sipPort, transport: 'TCP' }));
    await phone.waitFor((m) => statusLine(m)?.status === 200);
    const [target] = await s.registrar.lookup('tcpphone');
    assert.equal(target.transport, 'tcp');
    assert.equal(target.flow.sourcePort, phone.port);
    await phone.close();
    await new Promise((r) => setTimeout(r, 100));
    const round = await s.registrar.keepaliveNow();
    assert.deepEqual(round, { pinged: 1, removed: 1 });
    assert.deepEqual(await s.registrar.lookup('tcpphone'), []);
  });
});
