import assert from 'node:assert/strict';
import { AddressClassifier, parseCidr } from '../../../src/nat/address-class';

describe('AddressClassifier', () => {
  const classifier = new AddressClassifier();

  it('treats exactly 172.16.0.0/12 as RFC 1918, not all of 172/8', () => {
    assert.equal(classifier.classify('172.15.255.255'), 'public');
    assert.equal(classifier.classify('172.16.0.0'), 'private');
    assert.equal(classifier.classify('172.31.255.255'), 'private');
    assert.equal(classifier.classify('172.32.0.0'), 'public');
  });

  it('knows the other RFC 1918 ranges at their edges', () => {
    assert.equal(classifier.classify('10.0.0.0'), 'private');
    assert.equal(classifier.classify('10.255.255.255'), 'private');
    assert.equal(classifier.classify('11.0.0.0'), 'public');
    assert.equal(classifier.classify('192.168.0.1'), 'private');
    assert.equal(classifier.classify('192.169.0.1'), 'public');
  });

  it('treats 100.64.0.0/10 as shared (CGNAT) space', () => {
    assert.equal(classifier.classify('100.63.255.255'), 'public');
    assert.equal(classifier.classify('100.64.0.0'), 'shared');
    assert.equal(classifier.classify('100.127.255.255'), 'shared');
    assert.equal(classifier.classify('100.128.0.0'), 'public');
    assert.equal(classifier.isUnreachable('100.100.1.1'), true);
  });

  it('classifies loopback, link-local and unspecified IPv4', () => {
    assert.equal(classifier.classify('127.0.0.1'), 'loopback');
    assert.equal(classifier.classify('169.254.10.1'), 'link-local');
    assert.equal(classifier.classify('0.0.0.0'), 'unspecified');
  });

  it('classifies IPv6 ULA fc00::/7 and link-local fe80::/10 at their edges', () => {
    assert.equal(classifier.classify('fbff:ffff::1'), 'public');
    assert.equal(classifier.classify('fc00::1'), 'ula');
    assert.equal(classifier.classify('fdff:ffff::1'), 'ula');
    assert.equal(classifier.classify('fe00::1'), 'public');
    assert.equal(classifier.classify('fe80::1'), 'link-local');
    assert.equal(classifier.classify('febf:ffff::1'), 'link-local');
    assert.equal(classifier.classify('fec0::1'), 'public');
    assert.equal(classifier.classify('::1'), 'loopback');
    assert.equal(classifier.classify('::'), 'unspecified');
    assert.equal(classifier.classify('2a02:a03f:3eb0:e000:b0aa:d60a:cff2:933c'), 'public');
  });

  it('accepts bracketed IPv6 as it appears in SIP URIs', () => {
    assert.equal(classifier.classify('[fe80::1]'), 'link-local');
  });

  it('classifies IPv4-mapped IPv6 by the embedded IPv4 address, dotted or hex', () => {
    assert.equal(classifier.classify('::ffff:192.168.1.10'), 'private');
    assert.equal(classifier.classify('::ffff:c0a8:010a'), 'private');
    assert.equal(classifier.classify('::ffff:203.0.113.5'), 'public');
    assert.equal(classifier.classify('::FFFF:100.64.0.1'), 'shared');
  });

  it('reports hostnames as such and does not call them unreachable', () => {
    assert.equal(classifier.classify('pbx.example.com'), 'hostname');
    assert.equal(classifier.isUnreachable('pbx.example.com'), false);
  });

  it('says which classes are unreachable from the public side', () => {
    for (const host of ['10.1.2.3', '100.64.1.1', '127.0.0.1', '169.254.1.1', 'fd00::1', '0.0.0.0'])
      assert.equal(classifier.isUnreachable(host), true, host);
    for (const host of ['203.0.113.10', '2001:db8::1', '8.8.8.8'])
      assert.equal(classifier.isUnreachable(host), false, host);
  });

  describe('operator-declared local networks', () => {
    const operator = new AddressClassifier(['198.51.100.0/24', '2001:db8:1::/48', '203.0.113.7']);

    it('classifies addresses inside them as local-network and unreachable', () => {
      assert.equal(operator.classify('198.51.100.200'), 'local-network');
      assert.equal(operator.classify('198.51.101.1'), 'public');
      assert.equal(operator.classify('2001:db8:1:ffff::1'), 'local-network');
      assert.equal(operator.classify('2001:db8:2::1'), 'public');
      assert.equal(operator.classify('203.0.113.7'), 'local-network');
      assert.equal(operator.classify('203.0.113.8'), 'public');
      assert.equal(operator.isUnreachable('198.51.100.1'), true);
    });

    it('lets an operator range take precedence over a built-in class', () => {
      const overlap = new AddressClassifier(['10.20.0.0/16']);
      assert.equal(overlap.classify('10.20.1.1'), 'local-network');
      assert.equal(overlap.classify('10.21.1.1'), 'private');
    });

    it('rejects bad CIDRs with a message naming the input', () => {
      assert.throws(() => new AddressClassifier(['10.0.0.0/33']), /invalid prefix length in 10\.0\.0\.0\/33/);
      assert.throws(() => new AddressClassifier(['fd00::/129']), /invalid prefix length/);
      assert.throws(() => new AddressClassifier(['10.0.0.0/']), /invalid prefix length/);
      assert.throws(() => new AddressClassifier(['10.0.0.0/8x']), /invalid prefix length/);
      assert.throws(() => new AddressClassifier(['300.0.0.0/8']), /invalid network address in 300/);
      assert.throws(() => new AddressClassifier(['lan/24']), /invalid network address/);
    });
  });

  it('parses CIDRs with and without a prefix length', () => {
    assert.deepEqual(parseCidr('192.0.2.0/24'), { network: '192.0.2.0', prefix: 24, family: 'ipv4' });
    assert.deepEqual(parseCidr('192.0.2.1'), { network: '192.0.2.1', prefix: 32, family: 'ipv4' });
    assert.deepEqual(parseCidr('fd00::/8'), { network: 'fd00::', prefix: 8, family: 'ipv6' });
    assert.deepEqual(parseCidr('::1'), { network: '::1', prefix: 128, family: 'ipv6' });
  });
});
