import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RoutingError, RoutingRules } from '../../../src/b2bua/routing';

const FILE = 'bad.yaml';

/** The file's lines; cases say which 1-based line the problem is on. */
function yaml(...lines: string[]): string {
  return lines.join('\n') + '\n';
}

function refusal(parse: () => unknown): RoutingError {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof RoutingError, `expected a RoutingError, got ${String(err)}`);
    return err;
  }
  assert.fail('the file was accepted');
}

/** Asserts one of the problems is on `line` with a message matching `reason`. */
function assertProblem(err: RoutingError, line: number | null, reason: RegExp): void {
  const found = err.problems.find((p) => p.line === line && reason.test(p.message));
  assert.ok(found, `no problem on line ${line} matching ${reason} in:\n${err.message}`);
  assert.equal(found.file, FILE);
  const where = line === null ? `${FILE}: ` : `${FILE}:${line}: `;
  assert.ok(err.message.includes(where + found.message), err.message);
}

const cases: [string, string, number | null, RegExp][] = [
  [
    'an unclosed bracket at the end',
    yaml('rules:', '  - target: pbx', '    match: { user: ['),
    3,
    /^YAML: .*end with a \]/,
  ],
  [
    'an unclosed quote',
    yaml('rules:', "  - name: 'abc", '    target: pbx'),
    3,
    /^YAML: Missing closing 'quote/,
  ],
  ['a misindented key', yaml('rules:', '  - target: pbx', '     media: nat'), 2, /^YAML: /],
  ['a tab-indented line', yaml('rules:', '\t- target: pbx'), 2, /^YAML: /],
  ['duplicate YAML keys', yaml('rules:', '  - target: pbx', '    target: registrar'), 3, /YAML: .*unique/],
  [
    'several documents',
    yaml('rules:', '  - target: pbx', '---', 'rules: []'),
    3,
    /YAML: .*multiple documents/,
  ],
  [
    'an unknown top-level key',
    yaml('rules:', '  - target: pbx', 'rule:', '  - target: pbx'),
    3,
    /unknown key "rule"; allowed here: targets, rules/,
  ],
  [
    'an unknown rule key',
    yaml('rules:', '  - target: pbx', '    mtach: { source: pbx }'),
    3,
    /^rule 1: mtach: unknown key "mtach"/,
  ],
  [
    'an unknown match key',
    yaml('rules:', '  - name: r', '    match:', '      src: pbx', '    target: pbx'),
    4,
    /^rule 1 \(r\): match\.src: unknown key "src"; allowed here: source, user, fromUser, domain/,
  ],
  [
    'an unknown matcher key',
    yaml('rules:', '  - target: pbx', '    match:', '      user:', "        regx: '^1'"),
    5,
    /match\.user\.regx: unknown key "regx"; allowed here: exact, prefix, regex/,
  ],
  [
    'an unknown rewrite key',
    yaml('rules:', '  - target: pbx', '    rewrite:', '      strip: 1', "      prefx: '+'"),
    5,
    /rewrite\.prefx: unknown key/,
  ],
  [
    'an unknown replace key',
    yaml('rules:', '  - target: pbx', '    rewrite:', "      replace: { regex: 'a', to: 'b' }"),
    4,
    /rewrite\.replace\.to: unknown key/,
  ],
  [
    'an unknown inline target key',
    yaml('rules:', '  - target:', '      uris: [sip:192.0.2.1]', '      timout: 3'),
    4,
    /target\.timout: unknown key "timout"; allowed here: uris, timeout/,
  ],
  [
    'an unknown named target key',
    yaml('targets:', '  t:', '    uris: [sip:192.0.2.1]', '    retries: 3', 'rules:', '  - target: t'),
    4,
    /^targets\.t\.retries: unknown key/,
  ],
  [
    'an unknown reject key',
    yaml('rules:', '  - reject:', '      status: 403', '      text: no'),
    4,
    /reject\.text: unknown key/,
  ],
  [
    'two forms in one matcher',
    yaml('rules:', '  - target: pbx', "    match: { user: { exact: '1', prefix: '2' } }"),
    3,
    /exactly one of exact, prefix or regex/,
  ],
  [
    'an empty matcher',
    yaml('rules:', '  - target: pbx', '    match:', '      user: {}'),
    4,
    /exactly one of exact, prefix or regex/,
  ],
  [
    'a matcher that is not a mapping',
    yaml('rules:', '  - target: pbx', '    match:', "      user: '1001'"),
    4,
    /match\.user: expected a mapping, got text "1001"/,
  ],
  [
    'a bad user regex',
    yaml('rules:', '  - target: pbx', '    match:', '      user:', "        regex: '^(1'"),
    5,
    /match\.user\.regex: Invalid regular expression/,
  ],
  [
    'a bad domain regex',
    yaml('rules:', '  - target: pbx', "    match: { domain: { regex: '[a-' } }"),
    3,
    /match\.domain\.regex: Invalid regular expression/,
  ],
  [
    'a bad replace regex',
    yaml('rules:', '  - target: pbx', '    rewrite:', "      replace: { regex: '*', with: '' }"),
    4,
    /rewrite\.replace\.regex: Invalid regular expression/,
  ],
  [
    'an overlong regex',
    yaml('rules:', '  - target: pbx', `    match: { user: { regex: '${'a'.repeat(501)}' } }`),
    3,
    /match\.user\.regex: Too big/,
  ],
  [
    'an unquoted number',
    yaml('rules:', '  - target: pbx', '    match: { user: { prefix: 00 } }'),
    3,
    /expected text, got number 0: quote the value/,
  ],
  [
    'an unknown source',
    yaml('rules:', '  - target: pbx', '    match: { source: phone }'),
    3,
    /match\.source: expected phones, pbx or a network/,
  ],
  [
    'a bad network in a source list',
    yaml(
      'rules:',
      '  - target: pbx',
      '    match:',
      '      source:',
      '        - pbx',
      "        - '10.0.0.0/33'",
    ),
    6,
    /match\.source item 2: .*invalid prefix length/,
  ],
  [
    'an empty source list',
    yaml('rules:', '  - target: pbx', '    match: { source: [] }'),
    3,
    /match\.source: /,
  ],
  [
    'an unknown target name',
    yaml(
      'targets:',
      '  carriers: { uris: [sip:192.0.2.1] }',
      'rules:',
      '  - target: pbx',
      '  - name: out',
      '    target: carrier',
    ),
    6,
    /^rule 2 \(out\): target: unknown target "carrier" \(known: pbx, registrar, carriers\)/,
  ],
  [
    'a target of the wrong type',
    yaml('rules:', '  - target: 5'),
    2,
    /target: expected pbx, registrar, a name from targets:/,
  ],
  [
    'a non-sip target URI',
    yaml('rules:', '  - target:', '      uris:', '        - sip:192.0.2.1', '        - http://example.com/'),
    5,
    /target\.uris item 2: expected a sip: or sips: URI .*unsupported URI scheme: http/,
  ],
  [
    'a tel: target URI',
    yaml('targets:', '  t: { uris: [tel:+4930123] }', 'rules:', '  - target: t'),
    2,
    /targets\.t\.uris item 1: .*only sip: and sips:/,
  ],
  [
    'a malformed target URI',
    yaml('rules:', "  - target: { uris: ['sip:a b@host'] }"),
    2,
    /target\.uris item 1: expected a sip: or sips: URI/,
  ],
  [
    'a target without URIs',
    yaml('rules:', '  - target: { uris: [] }'),
    2,
    /target\.uris: give at least one URI/,
  ],
  [
    'a zero timeout',
    yaml('rules:', '  - target:', '      uris: [sip:192.0.2.1]', '      timeout: 0'),
    4,
    /target\.timeout: /,
  ],
  [
    'a built-in name in targets',
    yaml('targets:', '  pbx: { uris: [sip:192.0.2.1] }', 'rules:', '  - target: pbx'),
    2,
    /targets\.pbx: bad name: pbx and registrar are built-in/,
  ],
  [
    'a status above 699',
    yaml('rules:', '  - reject:', '      status: 700'),
    3,
    /reject\.status: expected a status code from 400 to 699/,
  ],
  [
    'a success status',
    yaml('rules:', '  - reject: { status: 200 }'),
    2,
    /reject\.status: expected a status code from 400 to 699/,
  ],
  [
    'a fractional status',
    yaml('rules:', '  - reject: { status: 403.5 }'),
    2,
    /reject\.status: expected a status code/,
  ],
  [
    'a quoted status',
    yaml('rules:', "  - reject: { status: '403' }"),
    2,
    /reject\.status: expected a status code/,
  ],
  ['a missing status', yaml('rules:', '  - reject: { reason: No }'), 2, /reject\.status: /],
  [
    'a reason with a line break',
    yaml('rules:', '  - reject: { status: 403, reason: "a\\r\\nVia: x" }'),
    2,
    /reject\.reason: control characters/,
  ],
  [
    'both target and reject',
    yaml('rules:', '  - target: pbx', '    reject: { status: 403 }'),
    3,
    /^rule 1: reject: a rule has either a target or a reject, not both/,
  ],
  [
    'neither target nor reject',
    yaml('rules:', '  - target: pbx', '  - name: nothing', "    match: { user: { exact: '1' } }"),
    3,
    /^rule 2 \(nothing\): a rule needs a target or a reject/,
  ],
  [
    'a rewrite on a reject',
    yaml('rules:', '  - reject: { status: 403 }', '    rewrite: { strip: 1 }'),
    3,
    /rewrite: rewrite applies only to rules with a target/,
  ],
  [
    'an empty rewrite',
    yaml('rules:', '  - target: pbx', '    rewrite: {}'),
    3,
    /rewrite: give at least one of strip, prefix or replace/,
  ],
  [
    'a rewrite prefix with @',
    yaml('rules:', '  - target: pbx', "    rewrite: { prefix: 'a@b' }"),
    3,
    /rewrite\.prefix: spaces, control characters, @/,
  ],
  [
    'a negative strip',
    yaml('rules:', '  - target: pbx', '    rewrite: { strip: -1 }'),
    3,
    /rewrite\.strip: /,
  ],
  [
    'a bad media policy',
    yaml('rules:', '  - target: pbx', '    media: sometimes'),
    3,
    /media: expected always, nat or never/,
  ],
  [
    'duplicate rule names',
    yaml('rules:', '  - { name: a, target: pbx }', '  - target: pbx', '  - name: a', '    target: registrar'),
    4,
    /^rule 3 \(a\): name: rule name "a" is already used by rule 1/,
  ],
  [
    'a name clashing with a default name',
    yaml('rules:', '  - { name: rule 2, target: pbx }', '  - target: pbx'),
    3,
    /^rule 2: rule name "rule 2" is already used by rule 1/,
  ],
  [
    'a rule that is not a mapping',
    yaml('rules:', '  - target: pbx', '  - pbx'),
    3,
    /^rule 2: expected a mapping, got text "pbx"/,
  ],
  ['rules that are not a list', yaml('rules:', '  target: pbx'), 1, /^rules: expected a list, got a mapping/],
  ['no rules key', yaml('targets: {}'), 1, /^rules: required/],
  ['an empty rule list', yaml('# nothing yet', 'rules: []'), 2, /^rules: needs at least one rule/],
  ['an empty file', '', 1, /the file is empty/],
  ['a file of comments only', yaml('# rules:', '#   - target: pbx'), 1, /the file is empty/],
  ['a list at the top', yaml('# a list', '- target: pbx'), 2, /expected a mapping with rules:/],
  ['a scalar at the top', yaml('pbx'), 1, /expected a mapping with rules:/],
];

describe('routing rules: refused files', () => {
  for (const [what, text, line, reason] of cases) {
    it(`refuses ${what}, naming the file and line`, () => {
      assertProblem(
        refusal(() => RoutingRules.parse(text, FILE)),
        line,
        reason,
      );
    });
  }

  it('lists every problem, in line order', () => {
    const err = refusal(() =>
      RoutingRules.parse(
        yaml(
          'rules:',
          '  - name: a',
          "    match: { user: { regex: '(' } }",
          '    target: pbx',
          '  - name: b',
          '    media: loud',
          '    target: pbx',
          'extra: 1',
        ),
        FILE,
      ),
    );
    assert.deepEqual(
      err.problems.map((p) => p.line),
      [3, 6, 8],
    );
    assert.equal(err.message.split('\n').length, 3);
  });

  it('refuses a file over the size limit at the line that crosses it', () => {
    const line = '  - target: pbx # ' + 'x'.repeat(80) + '\n';
    const count = Math.ceil((1024 * 1024) / line.length) + 10;
    const text = 'rules:\n' + line.repeat(count);
    const crossing = Math.floor((1024 * 1024 - 'rules:\n'.length) / line.length) + 2;
    assertProblem(
      refusal(() => RoutingRules.parse(text, FILE)),
      crossing,
      /larger than 1048576 bytes/,
    );
  });

  it('refuses more rules than the limit', () => {
    const text = 'rules:\n' + '  - target: pbx\n'.repeat(10_001);
    assertProblem(
      refusal(() => RoutingRules.parse(text, FILE)),
      1,
      /^rules: at most 10000 rules/,
    );
  });

  it('refuses a YAML alias bomb instead of expanding it', () => {
    const bomb = yaml(
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'rules: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    );
    assertProblem(
      refusal(() => RoutingRules.parse(bomb, FILE)),
      null,
      /YAML: .*alias/i,
    );
  });

  describe('deep nesting, refused before the YAML composer can exhaust the stack', () => {
    const indented = (depth: number) =>
      'rules:\n' + Array.from({ length: depth }, (_, i) => `${' '.repeat(i + 1)}a:\n`).join('');
    const nested: [string, string, number][] = [
      ['brackets', `rules:\n  - ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`, 2],
      ['flow mappings', `# deep\nrules: ${'{a: '.repeat(200_000)}1${'}'.repeat(200_000)}\n`, 2],
      ['compact sequences', `rules:\n  - target: pbx\n  ${'- '.repeat(300_000)}x\n`, 3],
      ['indentation', indented(1000), 64],
    ];
    for (const [what, text, line] of nested) {
      it(`refuses ${what}`, () => {
        assertProblem(
          refusal(() => RoutingRules.parse(text, FILE)),
          line,
          /^YAML: nested more than 64 levels deep/,
        );
      });
    }

    it('accepts ordinary nesting with comments, block scalars and multi-line flows', () => {
      const text = yaml(
        'targets:',
        '  t:',
        '    uris: [',
        '      sip:192.0.2.1,',
        '    ]',
        'rules:',
        '  # a comment',
        '  - match:',
        '      user:',
        '        regex: >-',
        '          ^1',
        "    # brackets in quotes are text: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['",
        `      fromUser: { regex: '^${'['.repeat(70)}a${']'.repeat(70)}$' }`,
        '    target: t',
      );
      assert.equal(RoutingRules.parse(text, FILE).ruleCount, 1);
    });
  });

  describe('loading from disk', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-routing-'));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a missing file with the reason and no line', () => {
      const file = path.join(dir, 'missing.yaml');
      const err = refusal(() => RoutingRules.load(file));
      assert.equal(err.problems.length, 1);
      assert.equal(err.problems[0].file, file);
      assert.equal(err.problems[0].line, null);
      assert.match(err.message, /ENOENT/);
      assert.ok(err.message.startsWith(`${file}: `));
    });

    it('refuses a directory', () => {
      assert.match(refusal(() => RoutingRules.load(dir)).message, /EISDIR/);
    });

    it('refuses an oversized file without reading all of it', () => {
      const file = path.join(dir, 'huge.yaml');
      fs.writeFileSync(file, 'rules:\n' + '  - target: pbx\n'.repeat(200_000));
      const err = refusal(() => RoutingRules.load(file));
      assert.equal(err.problems[0].file, file);
      assert.match(err.problems[0].message, /larger than/);
      assert.equal(err.problems[0].line, Math.floor((1024 * 1024 - 7) / 16) + 2);
    });

    it('loads a good file with the same results as parse', () => {
      const file = path.join(dir, 'good.yaml');
      fs.writeFileSync(file, 'rules:\n  - target: registrar\n');
      assert.equal(RoutingRules.load(file).ruleCount, 1);
    });
  });
});
