import * as assert from 'node:assert/strict';
import { HeaderFilter, ownNameAddr, parseParty } from '../../../src/b2bua/headers';

describe('B2BUA header reading', () => {
  it('reads display name, user, host, port and tag of a From value', () => {
    assert.deepEqual(parseParty('"Alice B" <sip:1001@192.168.1.50:5062;transport=udp>;tag=abc'), {
      display: 'Alice B',
      user: '1001',
      host: '192.168.1.50',
      port: 5062,
      tag: 'abc',
    });
  });

  it('decodes %-escapes in the user part and keeps a broken escape as it came', () => {
    assert.equal(parseParty('<sip:%31001@example.com>').user, '1001');
    assert.equal(parseParty('<sip:100%G1@example.com>').user, '100%G1');
  });

  it('reads an addr-spec Request-URI and an IPv6 host without brackets', () => {
    assert.deepEqual(parseParty('sip:2000@[2001:db8::1]:5060;user=phone'), {
      display: null,
      user: '2000',
      host: '2001:db8::1',
      port: 5060,
      tag: null,
    });
  });

  it('reads garbage, a tel: URI or nothing as nobody instead of throwing', () => {
    for (const value of [undefined, '', 'tel:+4930123', '<sip:1001@>', 'not a header <'])
      assert.deepEqual(parseParty(value), { display: null, user: null, host: '', port: null, tag: null });
  });

  it('writes our own name-addr with an escaped display name', () => {
    assert.equal(ownNameAddr('1001', 'A "B"'), '"A \\"B\\"" <sip:1001@localhost>');
    assert.equal(ownNameAddr(null, null), '<sip:localhost>');
  });

  it('picks headers by exact name and by prefix, case-insensitively', () => {
    const headers: Record<string, string> = { subject: 'hi', 'x-tenant': 't1', via: 'SIP/2.0/UDP x' };
    const message = {
      headers,
      body: '',
      source_address: '',
      source_port: 0,
      protocol: 'udp',
      get: (name: string) => headers[name.toLowerCase()],
      has: (name: string) => name.toLowerCase() in headers,
    };
    assert.deepEqual(new HeaderFilter(['Subject', 'X-*']).pick(message), { subject: 'hi', 'x-tenant': 't1' });
  });
});
