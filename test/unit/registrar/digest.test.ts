import * as assert from 'node:assert/strict';
import { DigestAuthenticator } from '../../../src/registrar/authenticator';
import { digestResponse, ha1, NonceCounts, NonceSigner } from '../../../src/registrar/digest';
import { UserDirectory } from '../../../src/registrar/users';

describe('digest computations', () => {
  it('matches the RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    const response = digestResponse({
      algorithm: 'MD5',
      ha1: ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'),
      method: 'GET',
      uri: '/dir/index.html',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      qop: { qop: 'auth', nc: '00000001', cnonce: '0a4f113b' },
    });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    qop: { qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' },
  };
  it('matches the RFC 7616 §3.9.1 MD5 example', () => {
    const h = ha1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(
      digestResponse({ algorithm: 'MD5', ha1: h, ...rfc7616 }),
      '8ca523f5e9506fed4657c9700eebdbec',
    );
  });
  it('matches the RFC 7616 §3.9.1 SHA-256 example', () => {
    const h = ha1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
    assert.equal(
      digestResponse({ algorithm: 'SHA-256', ha1: h, ...rfc7616 }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });
});

describe('nonces', () => {
  const signer = new NonceSigner(Buffer.from('k'), 1000);
  it('accepts its own fresh nonce, calls an old one stale and a tampered one invalid', () => {
    const nonce = signer.issue(10_000);
    assert.equal(signer.check(nonce, 10_500), 'valid');
    assert.equal(signer.check(nonce, 11_001), 'stale');
    assert.equal(signer.check(`${nonce.slice(0, -1)}${nonce.endsWith('A') ? 'B' : 'A'}`, 10_500), 'invalid');
    assert.equal(new NonceSigner(Buffer.from('other'), 1000).check(nonce, 10_500), 'invalid');
    assert.equal(signer.check('garbage', 10_500), 'invalid');
  });
  it('refuses a nonce count that does not grow, and forgets the oldest nonce beyond capacity', () => {
    const counts = new NonceCounts(2);
    assert.equal(counts.accept('a', 1), true);
    assert.equal(counts.accept('a', 1), false);
    assert.equal(counts.accept('a', 2), true);
    counts.accept('b', 1);
    counts.accept('c', 1);
    assert.equal(counts.accept('a', 2), true, 'a was evicted, so its count starts over');
  });
});

describe('DigestAuthenticator', () => {
  const realm = 'example.com';
  const users = UserDirectory.fromYaml(
    `"1001": {password: pw1}\n"1002": {ha1: ${ha1('MD5', '1002', realm, 'pw2')}}\n`,
    realm,
  );
  const auth = new DigestAuthenticator({
    realm,
    users,
    algorithms: ['MD5', 'SHA-256'],
    nonceLifetimeMs: 1000,
    secret: Buffer.from('s'),
  });

  function answer(challenge: string, user: string, password: string, nc = '00000001'): string {
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1];
    const algorithm = /algorithm=([\w-]+)/.exec(challenge)![1] as 'MD5' | 'SHA-256';
    const uri = 'sip:example.com';
    const response = digestResponse({
      algorithm,
      ha1: ha1(algorithm, user, realm, password),
      method: 'REGISTER',
      uri,
      nonce,
      qop: { qop: 'auth', nc, cnonce: 'abc' },
    });
    return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="abc"`;
  }

  it('challenges with MD5 first, then SHA-256, and accepts either answer', () => {
    const verdict = auth.check('REGISTER', undefined, '1001', 0);
    assert.equal(verdict.kind, 'challenge');
    if (verdict.kind !== 'challenge') return;
    assert.match(verdict.challenges[0], /algorithm=MD5, qop="auth"$/);
    assert.match(verdict.challenges[1], /algorithm=SHA-256/);
    assert.deepEqual(auth.check('REGISTER', answer(verdict.challenges[0], '1001', 'pw1'), '1001', 10), {
      kind: 'ok',
      user: '1001',
    });
    assert.deepEqual(auth.check('REGISTER', answer(verdict.challenges[1], '1001', 'pw1'), '1001', 10), {
      kind: 'ok',
      user: '1001',
    });
  });

  it('puts the first choice last for clients that read only the last challenge (SIP.js)', () => {
    const verdict = auth.check('INVITE', undefined, '1001', 0, true);
    assert.equal(verdict.kind, 'challenge');
    if (verdict.kind !== 'challenge') return;
    assert.match(verdict.challenges[0], /algorithm=SHA-256/);
    assert.match(verdict.challenges[1], /algorithm=MD5/);
  });

  it('forbids a wrong password and a user registering someone else', () => {
    const verdict = auth.check('REGISTER', undefined, '1001', 0);
    if (verdict.kind !== 'challenge') throw new Error('expected a challenge');
    assert.equal(
      auth.check('REGISTER', answer(verdict.challenges[0], '1001', 'nope'), '1001', 10).kind,
      'forbidden',
    );
    assert.equal(
      auth.check('REGISTER', answer(verdict.challenges[0], '1001', 'pw1'), '1002', 10).kind,
      'forbidden',
    );
  });

  it('re-challenges with stale=true for a right answer on an expired nonce or a replayed nc', () => {
    const verdict = auth.check('REGISTER', undefined, '1001', 0);
    if (verdict.kind !== 'challenge') throw new Error('expected a challenge');
    const expired = auth.check('REGISTER', answer(verdict.challenges[0], '1001', 'pw1'), '1001', 5000);
    assert.equal(expired.kind, 'challenge');
    if (expired.kind === 'challenge') assert.match(expired.challenges[0], /stale=true/);
    const fresh = auth.check('REGISTER', undefined, '1001', 6000);
    if (fresh.kind !== 'challenge') throw new Error('expected a challenge');
    const creds = answer(fresh.challenges[0], '1001', 'pw1', '00000001');
    assert.equal(auth.check('REGISTER', creds, '1001', 6001).kind, 'ok');
    const replay = auth.check('REGISTER', creds, '1001', 6002);
    assert.equal(replay.kind, 'challenge');
    if (replay.kind === 'challenge') assert.match(replay.challenges[0], /stale=true/);
  });

  it('offers only MD5 to a user known by an MD5 HA1, and accepts it', () => {
    const verdict = auth.check('REGISTER', undefined, '1002', 0);
    if (verdict.kind !== 'challenge') throw new Error('expected a challenge');
    assert.equal(verdict.challenges.length, 1);
    assert.match(verdict.challenges[0], /algorithm=MD5/);
    assert.equal(auth.check('REGISTER', answer(verdict.challenges[0], '1002', 'pw2'), '1002', 10).kind, 'ok');
  });

  it('refuses a users file with a malformed ha1, naming the user', () => {
    assert.throws(() => UserDirectory.fromYaml('"9": {ha1: xyz}\n', realm), /9\.ha1|ha1/);
  });

  it('refuses a user listed twice, with the line, and broken YAML with the reason', () => {
    const twice = '"1": {password: a}\n"2": {password: b}\n"1": {password: c}\n';
    assert.throws(() => UserDirectory.fromYaml(twice, realm), /users\.yaml: line 3: user 1 is listed twice/);
    assert.throws(() => UserDirectory.fromYaml('"1": {password: a\n', realm), /users\.yaml: .+/);
  });

  it('reads a directory of 20,000 users, each with its secrets', () => {
    const lines: string[] = [];
    for (let n = 1; n <= 20_000; n++) lines.push(`u${n}: {ha1: "${String(n).padStart(32, '0')}"}`);
    const directory = UserDirectory.fromYaml(lines.join('\n'), realm);
    assert.equal(directory.size, 20_000);
    assert.equal(directory.secrets('u20000')?.MD5, String(20_000).padStart(32, '0'));
  });
});
