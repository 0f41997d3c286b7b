import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RoutingRules, type RouteDecision, type RouteRequest } from '../../../src/b2bua/routing';

const repoRoot = path.resolve(__dirname, '../../../..');

function request(overrides: Partial<RouteRequest> = {}): RouteRequest {
  return {
    source: { kind: 'phones', address: '192.0.2.10' },
    user: '1001',
    domain: 'pbx.example.com',
    fromUser: '2001',
    ...overrides,
  };
}

function fromPbx(overrides: Partial<RouteRequest> = {}): RouteRequest {
  return request({ source: { kind: 'pbx', address: '10.0.0.10' }, ...overrides });
}

function rules(yaml: string): RoutingRules {
  return RoutingRules.parse(yaml, 'test.yaml');
}

/** One rule with `match`, then a catch-all, so a miss is visible as the catch-all's name. */
function matcher(match: string): RoutingRules {
  return rules(
    `rules:\n  - name: hit\n    match: ${match}\n    target: pbx\n  - name: miss\n    target: registrar\n`,
  );
}

function ruleOf(decision: RouteDecision): string {
  return decision.action === 'no-match' ? 'no-match' : decision.rule;
}

function routed(decision: RouteDecision): Extract<RouteDecision, { action: 'route' }> {
  assert.equal(decision.action, 'route', JSON.stringify(decision));
  return decision as Extract<RouteDecision, { action: 'route' }>;
}

describe('routing rules: matching', () => {
  it('matches the request-URI user exactly, by prefix and by regex', () => {
    const exact = matcher("{ user: { exact: '1001' } }");
    assert.equal(ruleOf(exact.route(request({ user: '1001' }))), 'hit');
    assert.equal(ruleOf(exact.route(request({ user: '10011' }))), 'miss');

    const prefix = matcher("{ user: { prefix: '00' } }");
    assert.equal(ruleOf(prefix.route(request({ user: '0049301234' }))), 'hit');
    assert.equal(ruleOf(prefix.route(request({ user: '0' }))), 'miss');
    assert.equal(ruleOf(prefix.route(request({ user: '1001' }))), 'miss');

    const regex = matcher("{ user: { regex: '^1\\d{3}$' } }");
    assert.equal(ruleOf(regex.route(request({ user: '1234' }))), 'hit');
    assert.equal(ruleOf(regex.route(request({ user: '12345' }))), 'miss');
  });

  it('leaves regexes unanchored unless they say ^ or $', () => {
    const regex = matcher("{ user: { regex: '99' } }");
    assert.equal(ruleOf(regex.route(request({ user: '1990' }))), 'hit');
  });

  it('compares users case-sensitively', () => {
    const exact = matcher('{ user: { exact: alice } }');
    assert.equal(ruleOf(exact.route(request({ user: 'alice' }))), 'hit');
    assert.equal(ruleOf(exact.route(request({ user: 'Alice' }))), 'miss');
  });

  it('does not match user or fromUser conditions when the request has none', () => {
    assert.equal(ruleOf(matcher("{ user: { regex: '.*' } }").route(request({ user: null }))), 'miss');
    assert.equal(ruleOf(matcher("{ fromUser: { prefix: 'a' } }").route(request({ fromUser: null }))), 'miss');
  });

  it('matches the From user', () => {
    const anonymous = matcher('{ fromUser: { exact: anonymous } }');
    assert.equal(ruleOf(anonymous.route(request({ fromUser: 'anonymous' }))), 'hit');
    assert.equal(ruleOf(anonymous.route(request({ user: 'anonymous', fromUser: '1001' }))), 'miss');
  });

  it('matches the request-URI domain without regard to case', () => {
    const exact = matcher('{ domain: { exact: PBX.Example.com } }');
    assert.equal(ruleOf(exact.route(request({ domain: 'pbx.example.COM' }))), 'hit');
    assert.equal(ruleOf(exact.route(request({ domain: 'pbx.example.org' }))), 'miss');

    const prefix = matcher("{ domain: { prefix: 'Voice.' } }");
    assert.equal(ruleOf(prefix.route(request({ domain: 'VOICE.example.com' }))), 'hit');
    assert.equal(ruleOf(prefix.route(request({ domain: 'voic' }))), 'miss');

    const regex = matcher("{ domain: { regex: '\\.example\\.com$' } }");
    assert.equal(ruleOf(regex.route(request({ domain: 'a.EXAMPLE.com' }))), 'hit');
    assert.equal(ruleOf(regex.route(request({ domain: 'example.net' }))), 'miss');
  });

  it('matches the source kind', () => {
    const phones = matcher('{ source: phones }');
    assert.equal(ruleOf(phones.route(request())), 'hit');
    assert.equal(ruleOf(phones.route(fromPbx())), 'miss');
    const pbx = matcher('{ source: pbx }');
    assert.equal(ruleOf(pbx.route(fromPbx())), 'hit');
    assert.equal(ruleOf(pbx.route(request())), 'miss');
  });

  it('matches the source address against IPv4 and IPv6 networks', () => {
    const v4 = matcher("{ source: '198.51.100.0/24' }");
    const at = (address: string) => request({ source: { kind: 'phones', address } });
    assert.equal(ruleOf(v4.route(at('198.51.100.77'))), 'hit');
    assert.equal(ruleOf(v4.route(at('198.51.101.1'))), 'miss');
    assert.equal(ruleOf(v4.route(at('::ffff:198.51.100.77'))), 'hit', 'IPv4-mapped IPv6 source');
    assert.equal(ruleOf(v4.route(at('not-an-address'))), 'miss');

    const v6 = matcher("{ source: '2001:db8::/32' }");
    assert.equal(ruleOf(v6.route(at('2001:db8:1::5'))), 'hit');
    assert.equal(ruleOf(v6.route(at('[2001:db8::1]'))), 'hit', 'bracketed IPv6 source');
    assert.equal(ruleOf(v6.route(at('2001:db9::1'))), 'miss');

    const single = matcher("{ source: '203.0.113.9' }");
    assert.equal(ruleOf(single.route(at('203.0.113.9'))), 'hit');
    assert.equal(ruleOf(single.route(at('203.0.113.8'))), 'miss');
  });

  it('matches a source list when any entry holds', () => {
    const list = matcher("{ source: [pbx, '198.51.100.0/24'] }");
    assert.equal(ruleOf(list.route(fromPbx())), 'hit');
    assert.equal(ruleOf(list.route(request({ source: { kind: 'phones', address: '198.51.100.3' } }))), 'hit');
    assert.equal(ruleOf(list.route(request({ source: { kind: 'phones', address: '192.0.2.3' } }))), 'miss');
  });

  it('needs every given condition to hold', () => {
    const both = matcher("{ source: phones, user: { prefix: '9' }, domain: { exact: pbx.example.com } }");
    assert.equal(ruleOf(both.route(request({ user: '9123' }))), 'hit');
    assert.equal(ruleOf(both.route(fromPbx({ user: '9123' }))), 'miss');
    assert.equal(ruleOf(both.route(request({ user: '8123' }))), 'miss');
    assert.equal(ruleOf(both.route(request({ user: '9123', domain: 'other.example.com' }))), 'miss');
  });

  it('matches every call with an empty or absent match', () => {
    for (const yaml of [
      'rules:\n  - name: all\n    target: pbx\n',
      'rules:\n  - name: all\n    match: {}\n    target: pbx\n',
      'rules:\n  - name: all\n    match:\n    target: pbx\n',
    ]) {
      const all = rules(yaml);
      assert.equal(ruleOf(all.route(fromPbx({ user: null, fromUser: null }))), 'all');
      assert.equal(ruleOf(all.route(request())), 'all');
    }
  });

  it('takes the first matching rule, in file order', () => {
    const ordered = rules(
      [
        'rules:',
        "  - { name: first, match: { user: { prefix: '1' } }, target: pbx }",
        "  - { name: second, match: { user: { prefix: '10' } }, target: registrar }",
        '  - { name: third, target: registrar }',
      ].join('\n'),
    );
    assert.equal(ruleOf(ordered.route(request({ user: '1001' }))), 'first');
    assert.equal(ruleOf(ordered.route(request({ user: '2001' }))), 'third');
  });

  it('reports no-match when no rule matches', () => {
    const none = rules('rules:\n  - { match: { source: pbx }, target: registrar }\n');
    assert.deepEqual(none.route(request()), { action: 'no-match' });
  });
});

describe('routing rules: outcomes', () => {
  it('names unnamed rules by position', () => {
    const unnamed = rules('rules:\n  - { match: { source: pbx }, target: registrar }\n  - target: pbx\n');
    assert.equal(ruleOf(unnamed.route(request())), 'rule 2');
  });

  it('rewrites the user: strip, then prefix, then replace', () => {
    const rewrite = rules(
      [
        'rules:',
        "  - rewrite: { strip: 2, prefix: '+', replace: { regex: '^\\+49(\\d+)$', with: '0$1' } }",
        '    target: pbx',
      ].join('\n'),
    );
    // 0049301234 → 49301234 → +49301234 → 0301234; another order would give another result.
    assert.equal(routed(rewrite.route(request({ user: '0049301234' }))).user, '0301234');
    assert.equal(routed(rewrite.route(request({ user: '0033123' }))).user, '+33123');
  });

  it('replaces only the first match, with $& and $$ as in JavaScript', () => {
    const replace = rules(
      "rules:\n  - rewrite: { replace: { regex: '1', with: '[$&$$]' } }\n    target: pbx\n",
    );
    assert.equal(routed(replace.route(request({ user: '1101' }))).user, '[1$]101');
  });

  it('leaves a request without a user without one, and one stripped away becomes none', () => {
    const strip = rules('rules:\n  - rewrite: { strip: 4 }\n    target: pbx\n');
    assert.equal(routed(strip.route(request({ user: null }))).user, null);
    assert.equal(routed(strip.route(request({ user: '123' }))).user, null);
    assert.equal(routed(strip.route(request({ user: '12345' }))).user, '5');
  });

  it('passes the user through unchanged without a rewrite', () => {
    assert.equal(routed(rules('rules:\n  - target: pbx\n').route(request({ user: '00123' }))).user, '00123');
  });

  it('resolves built-in, named and inline targets', () => {
    const targets = rules(
      [
        'targets:',
        '  carriers:',
        '    uris: [sip:203.0.113.5:5060, sips:carrier.example.net;transport=tls]',
        '    timeout: 2.5',
        'rules:',
        "  - { name: pbx, match: { user: { exact: '1' } }, target: pbx }",
        "  - { name: registrar, match: { user: { exact: '2' } }, target: registrar }",
        "  - { name: named, match: { user: { exact: '3' } }, target: carriers }",
        '  - name: inline',
        "    match: { user: { exact: '4' } }",
        "    target: { uris: ['sip:2000@10.0.0.20'] }",
      ].join('\n'),
    );
    assert.deepEqual(routed(targets.route(request({ user: '1' }))).target, { kind: 'pbx' });
    assert.deepEqual(routed(targets.route(request({ user: '2' }))).target, { kind: 'registrar' });
    assert.deepEqual(routed(targets.route(request({ user: '3' }))).target, {
      kind: 'uris',
      name: 'carriers',
      uris: ['sip:203.0.113.5:5060', 'sips:carrier.example.net;transport=tls'],
      timeoutMs: 2500,
    });
    assert.deepEqual(routed(targets.route(request({ user: '4' }))).target, {
      kind: 'uris',
      name: null,
      uris: ['sip:2000@10.0.0.20'],
      timeoutMs: 5000,
    });
  });

  it('shares one frozen target between calls, so no call can change it for the next', () => {
    const shared = rules('targets:\n  t: { uris: [sip:192.0.2.1] }\nrules:\n  - target: t\n');
    const first = routed(shared.route(request())).target;
    assert.equal(routed(shared.route(request())).target, first);
    assert.ok(Object.isFrozen(first));
    assert.throws(() => (first as { uris: string[] }).uris.push('sip:evil'));
  });

  it('rejects with the given status and reason, or the standard phrase', () => {
    const reject = rules(
      [
        'rules:',
        "  - { name: forbidden, match: { user: { exact: '1' } }, reject: { status: 403, reason: Go away } }",
        '  - { name: busy, reject: { status: 486 } }',
      ].join('\n'),
    );
    assert.deepEqual(reject.route(request({ user: '1' })), {
      action: 'reject',
      rule: 'forbidden',
      status: 403,
      reason: 'Go away',
    });
    assert.deepEqual(reject.route(request({ user: '2' })), {
      action: 'reject',
      rule: 'busy',
      status: 486,
      reason: 'Busy Here',
    });
  });

  it('overrides the media policy per rule, null when the rule says nothing', () => {
    const media = rules(
      [
        'rules:',
        "  - { match: { user: { exact: '1' } }, target: pbx, media: always }",
        "  - { match: { user: { exact: '2' } }, target: pbx, media: nat }",
        "  - { match: { user: { exact: '3' } }, target: pbx, media: never }",
        '  - target: pbx',
      ].join('\n'),
    );
    assert.equal(routed(media.route(request({ user: '1' }))).media, 'always');
    assert.equal(routed(media.route(request({ user: '2' }))).media, 'nat');
    assert.equal(routed(media.route(request({ user: '3' }))).media, 'never');
    assert.equal(routed(media.route(request({ user: '4' }))).media, null);
  });

  it('counts its rules', () => {
    assert.equal(rules('rules:\n  - target: pbx\n  - target: registrar\n').ruleCount, 2);
  });
});

describe('routing rules: shipped and example files', () => {
  const shipped = path.join(repoRoot, 'config/routing.yaml');

  it('config/routing.yaml routes phones to the PBX and the PBX to the phones', () => {
    const loaded = RoutingRules.load(shipped);
    assert.deepEqual(loaded.route(request({ user: '0049301234' })), {
      action: 'route',
      rule: 'phones-to-pbx',
      user: '0049301234',
      target: { kind: 'pbx' },
      media: null,
    });
    assert.deepEqual(loaded.route(fromPbx({ user: '1001' })), {
      action: 'route',
      rule: 'pbx-to-phones',
      user: '1001',
      target: { kind: 'registrar' },
      media: null,
    });
  });

  it("config/routing.yaml's commented examples are valid once enabled", () => {
    // Enable what the file tells operators to uncomment: commented YAML below the marker, not prose.
    const lines = fs.readFileSync(shipped, 'utf8').split('\n');
    const marker = lines.findIndex((line) => line.startsWith('# Examples to enable'));
    assert.ok(marker > 0, 'the examples marker is in the file');
    const enabled = lines.map((line, i) => {
      const comment = /^(\s*)# (targets:|\s|- )(.*)$/.exec(line);
      return i > marker && comment ? `${comment[1]}${comment[2]}${comment[3]}` : line;
    });
    const examples = rules(enabled.join('\n'));
    assert.equal(examples.ruleCount, 6);
    assert.deepEqual(examples.route(request({ fromUser: 'anonymous' })), {
      action: 'reject',
      rule: 'block-anonymous',
      status: 403,
      reason: 'Forbidden',
    });
    assert.equal(routed(examples.route(request({ user: '0044207' }))).user, '+44207');
    assert.equal(routed(examples.route(request({ user: '0044207' }))).rule, 'international');
  });

  it('routes the documented example as described', () => {
    const example = RoutingRules.load(path.join(repoRoot, 'test/fixtures/routing/example.yaml'));
    assert.equal(ruleOf(example.route(request({ fromUser: 'anonymous', user: '112' }))), 'block-anonymous');
    assert.deepEqual(example.route(request({ user: '112' })), {
      action: 'route',
      rule: 'emergency',
      user: '112',
      target: { kind: 'pbx' },
      media: 'always',
    });
    assert.equal(ruleOf(example.route(fromPbx({ user: '911' }))), 'pbx-to-phones');
    assert.deepEqual(routed(example.route(request({ user: '1234' }))).target, { kind: 'registrar' });
    assert.deepEqual(example.route(request({ user: '0033612345678' })), {
      action: 'route',
      rule: 'international',
      user: '+33612345678',
      target: {
        kind: 'uris',
        name: 'carriers',
        uris: ['sip:203.0.113.5:5060', 'sip:203.0.113.6:5060'],
        timeoutMs: 5000,
      },
      media: null,
    });
    assert.equal(ruleOf(example.route(request({ user: '5551234' }))), 'phones-to-pbx');
  });
});
