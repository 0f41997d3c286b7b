import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../src/logging';
import { FileBindingStore } from '../../src/registrar/file-store';
import { Registrar } from '../../src/registrar/registrar';
import { startEmbedded, type EmbeddedHarness } from '../support/embedded';
import { allocatePort } from '../support/ports';
import { parseMessageLog, runSipp, startSippServer, type SippServer } from '../support/sipp';

describe('registrar relay mode (sipp phone -> Pinhole -> sipp PBX that challenges)', function () {
  this.timeout(30000);
  let harness: EmbeddedHarness | undefined;
  let registrar: Registrar | undefined;
  let pbx: SippServer | undefined;
  let dir = '';
  afterEach(async () => {
    await pbx?.stop();
    await registrar?.stop();
    await harness?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes the challenge back, registers Pinhole at the PBX, and absorbs refreshes', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-relay-'));
    const pbxPort = await allocatePort();
    pbx = startSippServer({ scenario: 'registrar-pbx-challenge.xml', localPort: pbxPort, timeoutMs: 20000 });
    await pbx.ready;
    harness = await startEmbedded();
    const srf = await harness.connectApp();
    registrar = new Registrar({
      domain: 'pbx.test',
      authenticator: null,
      policy: { defaultExpires: 3600, minExpires: 60, maxExpires: 7200, natUdpExpires: 60 },
      maxContacts: 5,
      localNetworks: [],
      store: await FileBindingStore.open(path.join(dir, 'bindings.json')),
      keepalive: { intervalMs: 0, maxFailures: 2 },
      relay: {
        pbxUri: `sip:127.0.0.1:${pbxPort}`,
        domain: 'pbx.test',
        upstreamExpires: 3600,
        sweepIntervalMs: 600000,
      },
      logger: createLogger('error'),
    });
    registrar.install(srf);

    const phone = await runSipp({
      scenario: 'registrar-relay-phone.xml',
      remote: `127.0.0.1:${harness.sipPort}`,
      localPort: await allocatePort(),
      service: '1001',
      extraArgs: ['-au', '1001', '-ap', 'pbx-password'],
      timeoutMs: 10000,
    });
    assert.equal(phone.exitCode, 0, phone.messages + phone.errors);
    assert.match(phone.logs, /phone-side expiry 60/);
    assert.deepEqual(registrar.relay?.stats, { forwarded: 2, absorbed: 2, deregistered: 0 });

    const pbxSide = await pbx.stop();
    pbx = undefined;
    const upstream = parseMessageLog(pbxSide.messages).filter(
      (m) => m.direction === 'received' && m.text.startsWith('REGISTER '),
    );
    assert.equal(upstream.length, 2, 'the PBX saw the first REGISTER and the authenticated one only');
    const contact = /\r\nContact: <sip:(1001-[0-9a-f]{12})@127\.0\.0\.1:\d+>/.exec(upstream[1].text);
    assert.ok(contact, `Pinhole registered its own Contact:\n${upstream[1].text}`);
    assert.match(upstream[1].text, /\r\nExpires: 3600\r\n/);

    const [target] = await registrar.lookupRelayContact(contact[1]);
    assert.equal(target.contact, 'sip:1001@192.168.1.50:5062');
    assert.equal(target.natVerdict.natted, true);
  });
});
