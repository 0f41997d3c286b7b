import assert from 'node:assert/strict';
import { formatListenUrl, parseListenUrl } from '../../../src/sipserver/transport/transport-layer';

describe('parseListenUrl', () => {
  it('reads protocol, IPv4 address and port', () => {
    assert.deepEqual(parseListenUrl('udp://0.0.0.0:5060'), {
      protocol: 'udp',
      address: '0.0.0.0',
      port: 5060,
    });
    assert.deepEqual(parseListenUrl('ws://127.0.0.1:8088'), {
      protocol: 'ws',
      address: '127.0.0.1',
      port: 8088,
    });
    assert.deepEqual(parseListenUrl('wss://10.0.0.1:8089/'), {
      protocol: 'wss',
      address: '10.0.0.1',
      port: 8089,
    });
  });

  it('reads a bracketed IPv6 address', () => {
    assert.deepEqual(parseListenUrl('tcp://[::1]:5090'), { protocol: 'tcp', address: '::1', port: 5090 });
    assert.deepEqual(parseListenUrl('tls://[::]:5061'), { protocol: 'tls', address: '::', port: 5061 });
  });

  it('accepts an upper-case scheme and port 0', () => {
    assert.deepEqual(parseListenUrl('TCP://127.0.0.1:0'), { protocol: 'tcp', address: '127.0.0.1', port: 0 });
  });

  it('uses the default port of the scheme when none is given', () => {
    assert.equal(parseListenUrl('udp://0.0.0.0').port, 5060);
    assert.equal(parseListenUrl('tls://0.0.0.0').port, 5061);
    assert.equal(parseListenUrl('wss://[::1]').port, 443);
  });

  const bad: [string, RegExp][] = [
    ['0.0.0.0:5060', /expected <protocol>:\/\//],
    ['sctp://0.0.0.0:5060', /protocol must be one of/],
    ['udp://example.com:5060', /not an IP address/],
    ['udp://::1:5060', /IPv6 address must be written in brackets/],
    ['udp://[::1:5060', /unclosed/],
    ['udp://[1.2.3.4]:5060', /not an IPv6 address/],
    ['udp://[::1]5060', /expected ":<port>"/],
    ['udp://1.2.3.4:http', /port "http" is not a number/],
    ['udp://1.2.3.4:70000', /out of range/],
    ['udp://1.2.3.4:', /port "" is not a number/],
    ['udp://1.2.3.4:5060/path', /port "5060\/path" is not a number/],
    ['', /expected <protocol>:\/\//],
  ];
  for (const [url, why] of bad) {
    it(`refuses ${JSON.stringify(url)}`, () => {
      assert.throws(
        () => parseListenUrl(url),
        (err: Error) => err.message.startsWith(`invalid listen URL "${url}"`) && why.test(err.message),
      );
    });
  }
});

describe('formatListenUrl', () => {
  it('writes IPv6 addresses in brackets and round-trips', () => {
    for (const url of ['udp://0.0.0.0:5060', 'tcp://[::1]:5090', 'wss://[2001:db8::1]:443']) {
      assert.equal(formatListenUrl(parseListenUrl(url)), url);
    }
  });
});
