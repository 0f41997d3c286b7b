import * as assert from 'node:assert/strict';
import { parseCidr } from '../../../src/nat/address-class';
import { NetworkSet } from '../../../src/nat/network-set';

describe('NetworkSet', () => {
  it('matches IPv4 and IPv6 networks, bracketed IPv6 and IPv4-mapped addresses', () => {
    const set = new NetworkSet(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'].map(parseCidr));
    assert.equal(set.has('10.1.2.3'), true);
    assert.equal(set.has('11.0.0.1'), false);
    assert.equal(set.has('192.0.2.7'), true);
    assert.equal(set.has('192.0.2.8'), false);
    assert.equal(set.has('[2001:db8::1]'), true);
    assert.equal(set.has('2001:db9::1'), false);
    assert.equal(set.has('::ffff:10.9.9.9'), true);
  });

  it('answers false for names and garbage, and for anything when empty', () => {
    const set = new NetworkSet(['10.0.0.0/8'].map(parseCidr));
    assert.equal(set.has('pbx.example.com'), false);
    assert.equal(set.has(''), false);
    assert.equal(new NetworkSet().has('10.0.0.1'), false);
  });

  it('gives the same answers after its memo has filled and started over', () => {
    const set = new NetworkSet(['10.0.0.0/8'].map(parseCidr));
    for (let i = 0; i < 25_000; i++) set.has(`192.168.${(i >> 8) & 255}.${i & 255}`);
    assert.equal(set.has('10.0.0.1'), true);
    assert.equal(set.has('192.168.0.1'), false);
  });

  it('sees networks added later', () => {
    const set = new NetworkSet();
    assert.equal(set.has('10.0.0.1'), false);
    set.add(parseCidr('10.0.0.0/8'));
    assert.equal(set.has('10.0.0.1'), true);
  });
});
