import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileBindingStore } from '../../src/registrar/file-store';
import { allocatePort } from '../support/ports';
import { spawnTracked, stopProcess, waitForExit } from '../support/processes';
import { parseMessageLog, runSipp } from '../support/sipp';
import { registerText, statusLine, udpPhone } from '../unit/registrar/raw-phone';

const CLI = path.resolve(__dirname, '../../src/cli.js');

/** Starts `pinhole --config` and resolves once it answers OPTIONS on its UDP port. */
function startPinhole(configFile: string, sipPort: number): { child: ChildProcess; started: Promise<void> } {
  const child = spawnTracked(process.execPath, [CLI, '--config', configFile]);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (out = (out + chunk.toString()).slice(-4000)));
  const started = (async () => {
    const probe = await udpPhone(sipPort);
    try {
      for (let i = 0; i < 100; i++) {
        if (child.exitCode !== null) throw new Error(`pinhole exited (${child.exitCode}):\n${out}`);
        const from = probe.received.length;
        probe.send(
          `OPTIONS sip:127.0.0.1:${sipPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${probe.port};branch=z9hG4bK-probe${i};rport\r\n` +
            `From: <sip:probe@127.0.0.1>;tag=p${i}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe-${i}-${process.pid}\r\n` +
            'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
        );
        try {
          await probe.waitFor((m) => statusLine(m)?.status === 200, 100, from);
          return;
        } catch {
          // not up yet
        }
      }
      throw new Error(`pinhole did not answer OPTIONS:\n${out}`);
    } finally {
      await probe.close();
    }
  })();
  started.catch(() => undefined);
  return { child, started };
}

describe('registrar persistence across kill -9 (pinhole process)', function () {
  this.timeout(60000);
  let dir: string;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child) await stopProcess(child, 'SIGKILL');
    child = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every REGISTER answered 200 before SIGKILL is back after a restart', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-restart-'));
    const sipPort = await allocatePort();
    const store = path.join(dir, 'bindings.json');
    const configFile = path.join(dir, 'pinhole.yaml');
    fs.copyFileSync(path.join(__dirname, '../../../config/routing.yaml'), path.join(dir, 'routing.yaml'));
    fs.writeFileSync(
      configFile,
      [
        'sip:',
        `  listen: [udp://127.0.0.1:${sipPort}]`,
        'registrar:',
        '  domain: restart.test',
        `  store: ${store}`,
        '  keepalive: {intervalSeconds: 0}',
        'log:',
        '  level: error',
      ].join('\n'),
    );
    const first = startPinhole(configFile, sipPort);
    child = first.child;
    await first.started;

    const traffic = runSipp({
      scenario: 'registrar-load.xml',
      remote: `127.0.0.1:${sipPort}`,
      localPort: await allocatePort(),
      calls: 5000,
      rate: Number(process.env.REGISTRAR_LOAD_RATE ?? 400),
      timeoutMs: 8000,
    });
    await new Promise((r) => setTimeout(r, 2000));
    first.child.kill('SIGKILL');
    await waitForExit(first.child);
    const result = await traffic;

    const messages = parseMessageLog(result.messages);
    const answered = new Set<string>();
    const times: number[] = [];
    for (const m of messages) {
      if (m.direction !== 'received' || statusLine(m.text)?.status !== 200) continue;
      const user = /\r\nTo: <sip:(phone\d+)@/.exec(m.text)?.[1];
      if (user) answered.add(`sip:${user}@restart.test`);
    }
    for (const m of result.messages.matchAll(
      /^-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\nUDP message received/gm,
    ))
      times.push(Date.parse(m[1].replace(' ', 'T') + 'Z'));
    assert.ok(answered.size > 100, `steady traffic was answered before the kill (${answered.size})`);
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
    console.log(
      `      ${answered.size} REGISTERs answered 200 in ${seconds.toFixed(2)} s before SIGKILL (${(answered.size / seconds).toFixed(0)}/s, sipp offered ${process.env.REGISTRAR_LOAD_RATE ?? 400}/s)`,
    );

    const second = startPinhole(configFile, sipPort);
    child = second.child;
    await second.started;
    const phone = await udpPhone(sipPort);
    try {
      const [sample] = [...answered];
      phone.send(
        registerText({
          user: sample.slice(4, sample.indexOf('@')),
          serverPort: sipPort,
          contacts: [],
          expires: null,
        }),
      );
      const reply = await phone.waitFor((m) => statusLine(m)?.status === 200);
      assert.match(
        reply,
        /\r\nContact: <sip:phone\d+@192\.168\.1\.50:5062;transport=UDP>;expires=\d+/,
        'the restarted Pinhole lists the binding',
      );
    } finally {
      await phone.close();
    }
    await stopProcess(second.child, 'SIGTERM');
    child = undefined;

    const reopened = await FileBindingStore.open(store);
    try {
      const all = await reopened.all();
      const missing = [...answered].filter((aor) => !all.has(aor));
      assert.deepEqual(missing, [], `${missing.length} of ${answered.size} acknowledged registrations lost`);
    } finally {
      await reopened.close();
    }
  });
});
