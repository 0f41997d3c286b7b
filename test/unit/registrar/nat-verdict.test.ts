import * as assert from 'node:assert/strict';
import { AddressClassifier } from '../../../src/nat/address-class';
import { natVerdict, type NatEvidence } from '../../../src/registrar/nat-verdict';

const classifier = new AddressClassifier(['198.51.100.0/24']);
const base: NatEvidence = {
  contactHost: '203.0.113.5',
  contactPort: 5060,
  viaHost: '203.0.113.5',
  viaPort: 5060,
  sourceAddress: '203.0.113.5',
  sourcePort: 5060,
  stream: false,
  defaultPort: 5060,
};

describe('NAT verdict for a binding', () => {
  it('is not NATed when Contact and Via are the packet source', () => {
    assert.deepEqual(natVerdict(base, classifier), { natted: false, reasons: [] });
  });
  it('names a private Contact and Via', () => {
    const v = natVerdict({ ...base, contactHost: '192.168.1.50', viaHost: '10.1.2.3' }, classifier);
    assert.deepEqual(v, { natted: true, reasons: ['contact-private:192.168.1.50', 'via-private:10.1.2.3'] });
  });
  it('names shared (RFC 6598), link-local, ULA and operator-declared networks', () => {
    for (const [host, kind] of [
      ['100.64.0.7', 'shared'],
      ['169.254.3.3', 'link-local'],
      ['[fd00::1]', 'ula'],
      ['198.51.100.9', 'local-network'],
    ]) {
      const v = natVerdict({ ...base, contactHost: host }, classifier);
      assert.deepEqual(v.reasons, [`contact-${kind}:${host}`]);
    }
  });
  it('flags a public Contact that is not the source, and a source port that differs on UDP only', () => {
    assert.deepEqual(natVerdict({ ...base, contactHost: '203.0.113.9' }, classifier).reasons, [
      'contact-differs-from-source',
    ]);
    assert.deepEqual(natVerdict({ ...base, sourcePort: 40000 }, classifier).reasons, [
      'contact-port-differs-from-source',
      'via-port-differs-from-source',
    ]);
    assert.equal(natVerdict({ ...base, sourcePort: 40000, stream: true }, classifier).natted, false);
  });
  it('treats an omitted port as the transport default', () => {
    assert.equal(natVerdict({ ...base, contactPort: null, viaPort: null }, classifier).natted, false);
  });
  it('flags a hostname Contact (WebSocket .invalid) so calls follow the flow', () => {
    assert.deepEqual(
      natVerdict({ ...base, contactHost: 'df7jal23ls0d.invalid', stream: true }, classifier).reasons,
      ['contact-hostname:df7jal23ls0d.invalid'],
    );
  });
  it('does not call a LAN phone NATed when its private address is the source', () => {
    const lan = {
      ...base,
      contactHost: '192.168.1.50',
      viaHost: '192.168.1.50',
      sourceAddress: '192.168.1.50',
    };
    assert.equal(natVerdict(lan, classifier).natted, false);
  });
});
