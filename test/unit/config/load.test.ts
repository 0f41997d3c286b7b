import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfigFile, parseConfigText } from '../../../src/config/load';

const repoRoot = path.resolve(__dirname, '../../../..');

describe('config loading', () => {
  it('loads the shipped config/pinhole.yaml', () => {
    const config = loadConfigFile(path.join(repoRoot, 'config/pinhole.yaml'));
    assert.ok(config.sip.listen.length > 0);
    assert.equal(config.sip.server, 'embedded');
  });

  it('fills defaults for an empty file', () => {
    const config = parseConfigText('');
    assert.deepEqual(config.sip.timers, { t1: 500, t2: 4000, t4: 5000 });
    assert.equal(config.log.level, 'info');
  });

  const bad: [string, string, RegExp][] = [
    [
      'a bad listen URL, with its line',
      'sip:\n  listen:\n    - udp://0.0.0.0\n',
      /line 3: sip\.listen\.0: expected PROTOCOL/,
    ],
    [
      'an unknown key, with its line',
      'sip:\n  listen: [udp://127.0.0.1:5060]\n  bogus: 1\n',
      /line 3: sip\.bogus: Unrecognized key/,
    ],
    ['a wrong type', 'sip:\n  timers: {t1: fast}\n', /sip\.timers\.t1/],
    ['YAML syntax errors', 'sip: [unclosed\n', /line \d+/],
    ['a negative timer', 'sip:\n  timers: {t1: -1}\n', /sip\.timers\.t1/],
    ['a bad server', 'sip:\n  server: {host: x}\n', /sip\.server/],
  ];
  for (const [what, text, reason] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseConfigText(text, 'test.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, reason);
          return true;
        },
      );
    });
  }

  it('refuses a missing file with a clear error', () => {
    assert.throws(() => loadConfigFile('/nonexistent/pinhole.yaml'), /ENOENT/);
  });

  it('pinhole --check exits 0 for a good file and 2 with the reason for a bad one', () => {
    const cli = path.join(repoRoot, 'dist/src/cli.js');
    const good = spawnSync(process.execPath, [
      cli,
      '--config',
      path.join(repoRoot, 'config/pinhole.yaml'),
      '--check',
    ]);
    assert.equal(good.status, 0, good.stderr.toString());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-config-'));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'log:\n  level: loud\n');
    const badRun = spawnSync(process.execPath, [cli, '--config', file, '--check']);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(badRun.status, 2);
    assert.match(badRun.stderr.toString(), /line 2: log\.level/);
  });

  it('pinhole --check also validates the routing file and names its line', () => {
    const cli = path.join(repoRoot, 'dist/src/cli.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-config-'));
    const file = path.join(dir, 'pinhole.yaml');
    fs.writeFileSync(file, 'calls:\n  routing: rules.yaml\n');
    fs.writeFileSync(path.join(dir, 'rules.yaml'), 'rules:\n  - name: x\n    target: nowhere\n');
    const run = spawnSync(process.execPath, [cli, '--config', file, '--check']);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(run.status, 2);
    assert.match(run.stderr.toString(), /rules\.yaml:3: .*nowhere/);
  });
});
