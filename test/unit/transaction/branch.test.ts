import assert from 'node:assert/strict';
import { generateBranch, isRfc3261Branch } from '../../../src/sipserver/transaction/branch';

describe('Via branch generation', () => {
  it('makes 100k distinct branches with the magic cookie and 128 random bits', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const branch = generateBranch();
      assert.ok(branch.startsWith('z9hG4bK'));
      seen.add(branch);
    }
    assert.equal(seen.size, 100_000);
    const sample = generateBranch();
    assert.match(sample, /^z9hG4bK[A-Za-z0-9_-]{22}$/, 'base64url of 16 bytes: valid token characters');
  });

  it('tells RFC 3261 branches from RFC 2543 ones', () => {
    assert.equal(isRfc3261Branch(generateBranch()), true);
    assert.equal(isRfc3261Branch('1234abcd'), false);
    assert.equal(isRfc3261Branch(null), false);
  });
});
