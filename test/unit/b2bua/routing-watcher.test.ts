import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import {
  RoutingError,
  RoutingRules,
  RoutingWatcher,
  type RouteRequest,
  type RoutingWatcherOptions,
} from '../../../src/b2bua/routing';

interface LogEntry {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** A winston logger that keeps its entries for the test to read. */
function capturingLogger(): { logger: winston.Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const stream = new Writable({
    objectMode: true,
    write(entry: LogEntry, _encoding, done) {
      entries.push(entry);
      done();
    },
  });
  return {
    logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }),
    entries,
  };
}

const call: RouteRequest = {
  source: { kind: 'phones', address: '192.0.2.10' },
  user: '1001',
  domain: 'pbx.example.com',
  fromUser: '2001',
};

/** A one-rule file whose rule name shows which version is active. */
function version(name: string): string {
  return `rules:\n  - name: ${name}\n    target: pbx\n`;
}

function activeRule(watcher: RoutingWatcher): string {
  const decision = watcher.current().route(call);
  return decision.action === 'no-match' ? 'no-match' : decision.rule;
}

/** Polls until `condition` holds; fails after `timeoutMs` rather than sleeping a fixed time. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('routing file watcher', () => {
  let dir: string;
  let file: string;
  let watcher: RoutingWatcher | null;
  let log: ReturnType<typeof capturingLogger>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-routing-watch-'));
    file = path.join(dir, 'routing.yaml');
    watcher = null;
    log = capturingLogger();
  });

  afterEach(() => {
    watcher?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function watch(options: Partial<RoutingWatcherOptions> = {}): RoutingWatcher {
    watcher = new RoutingWatcher({ file, logger: log.logger, debounceMs: 20, ...options });
    return watcher;
  }

  /** Replaces the file the way editors save: write a sibling, then rename it over the original. */
  function replaceFile(text: string): void {
    const temp = path.join(dir, '.routing.yaml.tmp');
    fs.writeFileSync(temp, text);
    fs.renameSync(temp, file);
  }

  it('loads the file when constructed', () => {
    fs.writeFileSync(file, version('v1'));
    assert.equal(activeRule(watch()), 'v1');
  });

  it('refuses to start from a bad or missing file', () => {
    fs.writeFileSync(file, 'rules:\n  - target: nowhere\n');
    assert.throws(
      () => watch(),
      (err: unknown) => err instanceof RoutingError && /:2: /.test(err.message),
    );
    fs.rmSync(file);
    assert.throws(
      () => watch(),
      (err: unknown) => err instanceof RoutingError && /ENOENT/.test(err.message),
    );
  });

  it('applies a file written in place', async () => {
    fs.writeFileSync(file, version('v1'));
    const reloaded: RoutingRules[] = [];
    const w = watch({ onReload: (rules) => reloaded.push(rules) });
    w.start();
    fs.writeFileSync(file, version('v2'));
    await waitFor('v2', () => activeRule(w) === 'v2');
    assert.equal(reloaded.at(-1), w.current());
    const info = log.entries.find((e) => e.level === 'info' && e.rules === 1);
    assert.ok(info, JSON.stringify(log.entries));
    assert.equal(info.file, file);
  });

  it('applies a file replaced by rename, again and again', async () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch();
    w.start();
    replaceFile(version('v2'));
    await waitFor('v2', () => activeRule(w) === 'v2');
    replaceFile(version('v3'));
    await waitFor('v3', () => activeRule(w) === 'v3');
  });

  it('keeps the previous rules when a bad file arrives, and applies the fix', async () => {
    fs.writeFileSync(file, version('good'));
    const refused: RoutingError[] = [];
    const w = watch({ onRefused: (err) => refused.push(err) });
    w.start();

    replaceFile('rules:\n  - name: broken\n    target: pbx\n    media: loud\n');
    await waitFor('the refusal', () => refused.length > 0);
    assert.equal(activeRule(w), 'good');
    assert.equal(refused[0].problems[0].file, file);
    assert.equal(refused[0].problems[0].line, 4);
    const error = log.entries.find((e) => e.level === 'error');
    assert.ok(error);
    assert.deepEqual(error.problems, [`${file}:4: rule 1 (broken): media: expected always, nat or never`]);

    replaceFile(version('fixed'));
    await waitFor('the fix', () => activeRule(w) === 'fixed');
    assert.equal(refused.length, 1, 'the broken version was refused once');
  });

  it('keeps the rules while the file is missing and applies it when it is back', async () => {
    fs.writeFileSync(file, version('v1'));
    const refused: RoutingError[] = [];
    const w = watch({ onRefused: (err) => refused.push(err) });
    w.start();
    fs.rmSync(file);
    await waitFor('the refusal', () => refused.length > 0);
    assert.match(refused[0].message, /ENOENT/);
    assert.equal(activeRule(w), 'v1');
    fs.writeFileSync(file, version('v2'));
    await waitFor('v2', () => activeRule(w) === 'v2');
  });

  it('reloads synchronously on request', () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch();
    fs.writeFileSync(file, version('v2'));
    assert.equal(w.reloadNow(), true);
    assert.equal(activeRule(w), 'v2');
    assert.equal(w.reloadNow(), true, 'an unchanged file is reloaded when asked');
    fs.writeFileSync(file, 'rules: [');
    assert.equal(w.reloadNow(), false);
    assert.equal(activeRule(w), 'v2');
    assert.ok(log.entries.some((e) => e.level === 'error'));
  });

  it('survives a listener that throws', async () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch({
      onReload: () => {
        throw new Error('listener bug');
      },
    });
    w.start();
    fs.writeFileSync(file, version('v2'));
    await waitFor('v2', () => activeRule(w) === 'v2');
    await waitFor('the listener error log', () =>
      log.entries.some((e) => e.level === 'error' && e.error === 'listener bug'),
    );
  });

  it('picks up a change made between construction and start', async () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch();
    replaceFile(version('v2'));
    w.start();
    await waitFor('v2', () => activeRule(w) === 'v2');
  });

  it('keeps routing, and says so, when the directory cannot be watched', () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch();
    fs.rmSync(dir, { recursive: true });
    w.start();
    assert.equal(activeRule(w), 'v1');
    assert.ok(log.entries.some((e) => e.level === 'error' && /cannot watch/.test(e.message)));
  });

  it('can be stopped twice and started again', async () => {
    fs.writeFileSync(file, version('v1'));
    const w = watch();
    w.start();
    w.stop();
    w.stop();
    w.start();
    replaceFile(version('v2'));
    await waitFor('v2', () => activeRule(w) === 'v2');
  });
});
