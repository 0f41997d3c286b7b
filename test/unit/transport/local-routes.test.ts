import * as assert from 'node:assert/strict';
import type * as os from 'node:os';
import { LocalRoutes } from '../../../src/sipserver/transport/local-routes';

function iface(address: string, cidr: string): os.NetworkInterfaceInfo {
  return {
    address,
    cidr,
    netmask: '',
    family: 'IPv4',
    mac: '00:00:00:00:00:00',
    internal: false,
  } as os.NetworkInterfaceInfo;
}

describe('LocalRoutes: which of our addresses suits a destination', () => {
  const edge = new LocalRoutes(
    {
      lo: [iface('127.0.0.1', '127.0.0.1/8')],
      ext0: [iface('203.0.113.1', '203.0.113.1/24')],
      int0: [iface('10.0.0.1', '10.0.0.1/24')],
    },
    new Set(['ext0']),
  );

  it('prefers the address on the destination subnet: the PBX side for the PBX', () => {
    assert.ok(edge.score('10.0.0.1', '10.0.0.10') > edge.score('203.0.113.1', '10.0.0.10'));
    assert.ok(edge.score('203.0.113.1', '203.0.113.20') > edge.score('10.0.0.1', '203.0.113.20'));
  });

  it('sends to the internet from the interface with the default route', () => {
    assert.ok(edge.score('203.0.113.1', '198.51.100.7') > edge.score('10.0.0.1', '198.51.100.7'));
  });

  it('lets a wildcard listener through but below a matching address', () => {
    assert.ok(edge.score('0.0.0.0', '10.0.0.10') > 0);
    assert.ok(edge.score('10.0.0.1', '10.0.0.10') > edge.score('0.0.0.0', '10.0.0.10'));
  });

  it('treats every 127/8 address as bound on lo and picks the closest one', () => {
    assert.ok(edge.score('127.0.0.3', '127.0.0.2') > edge.score('127.0.0.1', '127.0.0.2'));
    assert.ok(edge.score('127.0.0.1', '127.0.0.1') > edge.score('127.0.0.3', '127.0.0.1'));
  });

  it('knows nothing about an address no interface holds', () => {
    assert.equal(edge.score('192.0.2.1', '10.0.0.10'), 0);
  });
});
