import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileBindingStore, replayJournal } from '../../../src/registrar/file-store';
import type { Binding } from '../../../src/registrar/types';

function binding(aor: string, contact: string, expiresAt: number): Binding {
  return {
    aor,
    contact,
    instanceId: null,
    regId: null,
    q: null,
    callId: 'c',
    cseq: 1,
    expiresAt,
    registeredAt: 0,
    flow: {
      sourceAddress: '127.0.0.1',
      sourcePort: 5062,
      protocol: 'udp',
      viaTransport: 'UDP',
      receivedOn: null,
      connection: null,
    },
    nat: { natted: false, reasons: [] },
    userAgent: null,
  };
}

const line = (aor: string, bindings: Binding[]) => `${JSON.stringify({ aor, bindings })}\n`;

describe('file binding store', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-store-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replays a journal: the last line per AoR wins, expired and emptied AoRs vanish', () => {
    const text =
      line('sip:a@x', [binding('sip:a@x', 'sip:a@1', 5000)]) +
      line('sip:b@x', [binding('sip:b@x', 'sip:b@1', 5000)]) +
      line('sip:a@x', [binding('sip:a@x', 'sip:a@2', 5000)]) +
      line('sip:b@x', []) +
      line('sip:c@x', [binding('sip:c@x', 'sip:c@1', 500)]);
    const { bindings, lines, skipped } = replayJournal(text, 1000);
    assert.deepEqual([...bindings.keys()], ['sip:a@x']);
    assert.equal(bindings.get('sip:a@x')![0].contact, 'sip:a@2');
    assert.equal(lines, 5);
    assert.equal(skipped, 0);
  });

  it('skips a truncated last line (a write cut by kill -9) and keeps everything before it', () => {
    const full = line('sip:a@x', [binding('sip:a@x', 'sip:a@1', 5000)]);
    const torn = line('sip:b@x', [binding('sip:b@x', 'sip:b@1', 5000)]).slice(0, 40);
    const { bindings, skipped } = replayJournal(full + torn, 0);
    assert.deepEqual([...bindings.keys()], ['sip:a@x']);
    assert.equal(skipped, 1);
  });

  it('persists every put before resolving, reloads after reopening, and compacts the journal', async () => {
    const file = path.join(dir, 'bindings.json');
    const far = Date.now() + 3600_000;
    const store = await FileBindingStore.open(file, { compactAfterLines: 50 });
    await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        store.put(`sip:u${i % 30}@x`, [binding(`sip:u${i % 30}@x`, `sip:u@${i}`, far)]),
      ),
    );
    await store.put('sip:u0@x', []);
    // Read the file as a crash would leave it: no close, no final compaction.
    const onDisk = replayJournal(fs.readFileSync(file, 'utf8'), Date.now()).bindings;
    assert.equal(onDisk.size, 29);
    assert.equal(onDisk.get('sip:u29@x')![0].contact, 'sip:u@119');
    assert.ok(fs.readFileSync(file, 'utf8').split('\n').length < 121, 'compaction rewrote the journal');
    await store.close();
    const reopened = await FileBindingStore.open(file);
    assert.equal((await reopened.all()).size, 29);
    assert.deepEqual(await reopened.get('sip:u0@x'), []);
    await reopened.close();
  });

  it('starts clean over a torn journal, so later appends are not glued to the torn line', async () => {
    const file = path.join(dir, 'bindings.json');
    const far = Date.now() + 3600_000;
    fs.writeFileSync(file, line('sip:a@x', [binding('sip:a@x', 'sip:a@1', far)]) + '{"aor":"sip:b@x","bind');
    const store = await FileBindingStore.open(file);
    await store.put('sip:c@x', [binding('sip:c@x', 'sip:c@1', far)]);
    await store.close();
    const { bindings, skipped } = replayJournal(fs.readFileSync(file, 'utf8'), Date.now());
    assert.deepEqual([...bindings.keys()].sort(), ['sip:a@x', 'sip:c@x']);
    assert.equal(skipped, 0);
  });
});
