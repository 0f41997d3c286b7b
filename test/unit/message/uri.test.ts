import assert from 'node:assert/strict';
import {
  formatNameAddr,
  formatUri,
  formatVia,
  parseAnyUri,
  parseNameAddr,
  parseUri,
  parseVia,
  unescapeUri,
  unquote,
  UriError,
  viaBranch,
} from '../../../src/sipserver/message';

describe('parseUri / formatUri', () => {
  const roundTrips = [
    'sip:alice@atlanta.example.com',
    'sips:bob@biloxi.example.com:5061;transport=tcp',
    'sip:alice:secret@atlanta.example.com;maddr=239.255.255.1;ttl=15',
    'sip:[2001:db8::1]:5060',
    'sip:user@[2001:db8::1]:5060;transport=udp;lr',
    'sip:+12125551212@gateway.example.com;user=phone',
    'sip:bob@biloxi.example.com?subject=project%20x&priority=urgent',
    'sip:carol@chicago.example.com;ob?Replaces=abc%40host',
    'tel:+1-201-555-0123',
    'tel:7042;phone-context=example.com',
  ];
  for (const text of roundTrips) {
    it(`round-trips ${text}`, () => assert.equal(formatUri(parseUri(text)), text));
  }

  it('splits user, password, host, port, params and headers', () => {
    const uri = parseUri('sip:alice:secret@[2001:db8::1]:5070;transport=TCP;lr?subject=hi&x=y');
    assert.deepEqual(
      { ...uri, params: [...uri.params] },
      {
        scheme: 'sip',
        user: 'alice',
        password: 'secret',
        host: '2001:db8::1',
        port: 5070,
        params: [
          ['transport', 'TCP'],
          ['lr', null],
        ],
        headers: 'subject=hi&x=y',
      },
    );
  });

  it('lower-cases the scheme and parameter names, keeps values', () => {
    const uri = parseUri('SIPS:Bob@Example.COM;Transport=TLS');
    assert.equal(uri.scheme, 'sips');
    assert.equal(uri.user, 'Bob');
    assert.equal(uri.host, 'Example.COM');
    assert.equal(uri.params.get('transport'), 'TLS');
  });

  it('reads a tel URI number and its parameters', () => {
    const uri = parseUri('tel:+358-555-1234567;postd=pp22');
    assert.equal(uri.scheme, 'tel');
    assert.equal(uri.user, '+358-555-1234567');
    assert.equal(uri.params.get('postd'), 'pp22');
  });

  const invalid: Array<[string, RegExp]> = [
    ['sip:2001:db8::10', /not enclosed in \[ \]/],
    ['sip:user@[2001:db8:::1]', /invalid IPv6/],
    ['sip:user@[2001:db8::1', /unterminated IPv6/],
    ['sip:user@[::1]x', /junk after IPv6/],
    ['sip:user@host:70000', /invalid port/],
    ['sip:user@host:', /invalid port/],
    ['sip:@host', /empty user/],
    ['sip:user@', /invalid host/],
    ['sip:user@ho st', /invalid character/],
    ['sip:user@host;;lr', /empty parameter/],
    ['http://example.com/', /unsupported URI scheme: http/],
    ['example.com', /without scheme/],
    ['tel:abc xyz', /invalid tel number/],
  ];
  for (const [text, reason] of invalid) {
    it(`refuses ${JSON.stringify(text)} with a UriError`, () =>
      assert.throws(
        () => parseUri(text),
        (err: unknown) => err instanceof UriError && reason.test(err.message),
      ));
  }

  it('parseAnyUri keeps other absoluteURI schemes opaque and formats them back', () => {
    const uri = parseAnyUri('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
    assert.equal(uri.scheme, 'urn');
    assert.equal(uri.opaque, 'uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
    assert.equal(formatUri(uri), 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
    assert.equal(parseAnyUri('sip:a@b').host, 'b');
    assert.throws(() => parseAnyUri('mailto:'), UriError);
  });

  it('unescapeUri decodes %HH as UTF-8 and keeps broken escapes', () => {
    assert.equal(unescapeUri('h%C3%A9llo%20world'), 'héllo world');
    assert.equal(unescapeUri('%41%2'), 'A%2');
    assert.equal(unescapeUri('100%'), '100%');
    assert.equal(unescapeUri('%zz'), '%zz');
  });
});

describe('parseNameAddr', () => {
  it('reads a quoted display name holding <, comma and escaped quotes', () => {
    const addr = parseNameAddr('"Doe, John \\"<JD>\\"" <sip:jd@example.com>;tag=a1');
    assert.equal(addr.displayName, '"Doe, John \\"<JD>\\""');
    assert.equal(unquote(addr.displayName ?? ''), 'Doe, John "<JD>"');
    assert.equal(addr.uri.user, 'jd');
    assert.equal(addr.params.get('tag'), 'a1');
  });

  it('reads unquoted token display names, with or without LWS before <', () => {
    assert.equal(parseNameAddr('Alice Smith <sip:a@x>').displayName, 'Alice Smith');
    assert.equal(parseNameAddr('caller<sip:a@x>').displayName, 'caller');
    assert.equal(parseNameAddr('<sip:a@x>').displayName, null);
  });

  it('gives addr-spec parameters to the header, bracketed ones to the URI', () => {
    const bare = parseNameAddr('sip:a@x;transport=tcp ; tag = 7');
    assert.equal(bare.uri.params.size, 0);
    assert.deepEqual(
      [...bare.params],
      [
        ['transport', 'tcp'],
        ['tag', '7'],
      ],
    );
    const bracketed = parseNameAddr('<sip:a@x;transport=tcp>;tag=7');
    assert.equal(bracketed.uri.params.get('transport'), 'tcp');
    assert.deepEqual([...bracketed.params], [['tag', '7']]);
  });

  it('formats back to an equivalent name-addr', () => {
    const text = '"Bob \\"B\\"" <sip:bob@[2001:db8::2]:5062;transport=tcp>;tag=xyz;expires=60';
    assert.equal(formatNameAddr(parseNameAddr(text)), text);
    assert.deepEqual(parseNameAddr(formatNameAddr(parseNameAddr('sip:a@x;tag=1'))).params.get('tag'), '1');
  });

  const invalid: Array<[string, RegExp]> = [
    ['"unterminated <sip:a@x>', /unterminated quoted display name/],
    ['Doe, John <sip:a@x>', /must be quoted/],
    ['< sip:a@x >', /whitespace/],
    ['<sip:a@x', /missing '>'/],
    ['"Name" sip:a@x', /expected '<'/],
    ['sip:a@x?Route=y', /must be enclosed/],
    ['<sip:a@x>;;', /empty parameter/],
    ['<sip:a@x> junk', /expected ';'/],
    ['', /empty address/],
  ];
  for (const [text, reason] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () =>
      assert.throws(
        () => parseNameAddr(text),
        (err: unknown) => err instanceof UriError && reason.test(err.message),
      ));
  }
});

describe('parseVia / formatVia', () => {
  it('reads received, rport, branch on an IPv6 sent-by', () => {
    const via = parseVia('SIP/2.0/UDP [2001:db8::9:1]:5062;rport;received=2001:db8::9:255;branch=z9hG4bK776');
    assert.equal(via.protocol, 'SIP/2.0');
    assert.equal(via.transport, 'UDP');
    assert.equal(via.host, '2001:db8::9:1');
    assert.equal(via.port, 5062);
    assert.equal(via.params.get('rport'), null);
    assert.ok(via.params.has('rport'));
    assert.equal(via.params.get('received'), '2001:db8::9:255');
    assert.equal(viaBranch(via), 'z9hG4bK776');
  });

  it('accepts LWS around the slashes and semicolons', () => {
    const via = parseVia('SIP / 2.0 / tcp  host.example.com:5060 ; branch = z9hG4bKx ; rport=5070');
    assert.equal(via.transport, 'TCP');
    assert.equal(via.port, 5060);
    assert.equal(via.params.get('branch'), 'z9hG4bKx');
    assert.equal(via.params.get('rport'), '5070');
  });

  it('formats IPv6 hosts in brackets and round-trips', () => {
    const text = 'SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1;received=192.0.2.1;rport=5061';
    assert.equal(formatVia(parseVia(text)), text);
    assert.equal(formatVia({ ...parseVia('SIP/2.0/UDP 10.0.0.1'), host: '::1' }), 'SIP/2.0/UDP [::1]');
  });

  for (const text of [
    'SIP/2.0 host',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP host;;branch=1',
    'SIP/2.0/UDP 2001:db8::1',
  ]) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.throws(() => parseVia(text), UriError));
  }
});
