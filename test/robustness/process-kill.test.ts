/**
 * The Pinhole process SIGKILLed while phones register (digest-authenticated, UDP and TCP): once
 * restarted, every binding it had answered 200 for is there, in the store and in a REGISTER
 * fetch of the bindings.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileBindingStore } from '../../src/registrar/file-store';
import { PHONE_IP, REALM } from '../support/pinhole';
import { allocatePort } from '../support/ports';
import { stopProcess, waitForExit } from '../support/processes';
import { startChildPinhole, type ChildPinhole } from './support/child-pinhole';
import { prepareConfig, type RobustSetup } from './support/robust-pinhole';
import { listedContacts, register, type Target } from './support/sip-probe';
import type { WireProtocol } from './support/wire-client';

const USER_COUNT = 300;
const WORKERS = 24;
const LOAD_BEFORE_KILL_MS = 1500;
const SAMPLE_FETCHES = 10;

interface Acknowledged {
  user: string;
  contact: string;
}

function users(): Record<string, string> {
  const list: Record<string, string> = {};
  for (let i = 0; i < USER_COUNT; i++) list[`3${String(i).padStart(3, '0')}`] = `pw-${i}`;
  return list;
}

describe('Pinhole SIGKILLed under REGISTER load', function () {
  this.timeout(60000);
  let setup: RobustSetup | undefined;
  let pinhole: ChildPinhole | undefined;

  afterEach(async () => {
    if (pinhole) await stopProcess(pinhole.child, 'SIGKILL');
    pinhole = undefined;
    if (setup) fs.rmSync(setup.dir, { recursive: true, force: true });
    setup = undefined;
  });

  it('keeps every binding it acknowledged before the kill', async () => {
    const passwords = users();
    setup = await prepareConfig({ pbxPort: await allocatePort(), media: false, users: passwords });
    pinhole = await startChildPinhole(setup.configFile, setup.sipPort);
    const target = (protocol: WireProtocol): Target => ({ protocol, host: PHONE_IP, port: setup!.sipPort });

    const acknowledged: Acknowledged[] = [];
    let next = 0;
    let killed = false;
    const worker = async (w: number) => {
      while (!killed) {
        const n = next++ % USER_COUNT;
        const user = `3${String(n).padStart(3, '0')}`;
        const protocol: WireProtocol = w % 3 === 0 ? 'tcp' : 'udp';
        const contact = `sip:${user}@192.168.1.60:${20000 + next};transport=${protocol}`;
        const outcome = await register(target(protocol), {
          user,
          password: passwords[user],
          contact: `<${contact}>`,
          waitMs: 1000,
        }).catch(() => ({ status: null }));
        if (outcome.status === 200) acknowledged.push({ user, contact });
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, LOAD_BEFORE_KILL_MS));
    pinhole.child.kill('SIGKILL');
    await waitForExit(pinhole.child);
    killed = true;
    await Promise.all(workers);
    console.log(`      ${acknowledged.length} REGISTERs answered 200 before SIGKILL`);
    assert.ok(acknowledged.length > 50, `steady load was answered before the kill (${acknowledged.length})`);

    pinhole = await startChildPinhole(setup.configFile, setup.sipPort);
    const lost = [] as string[];
    for (const a of acknowledged.slice(-SAMPLE_FETCHES)) {
      const fetched = await register(target('udp'), {
        user: a.user,
        password: passwords[a.user],
        contact: null,
      });
      assert.equal(fetched.status, 200, fetched.reply);
      if (!listedContacts(fetched.reply).some((c) => c.startsWith(a.contact)))
        lost.push(`${a.user} ${a.contact}`);
    }
    assert.deepEqual(lost, [], 'the restarted Pinhole lists the last acknowledged bindings');
    await stopProcess(pinhole.child, 'SIGTERM');
    pinhole = undefined;

    const store = await FileBindingStore.open(path.join(setup.dir, 'bindings.json'));
    try {
      const all = await store.all();
      const missing = acknowledged.filter(
        (a) => !all.get(`sip:${a.user}@${REALM}`)?.some((b) => b.contact.startsWith(a.contact)),
      );
      assert.deepEqual(
        missing.map((m) => m.contact),
        [],
        `${missing.length} of ${acknowledged.length} acknowledged bindings lost`,
      );
    } finally {
      await store.close();
    }
  });
});
