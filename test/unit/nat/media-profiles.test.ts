import assert from 'node:assert/strict';
import { legProfile, ngOptionsFor } from '../../../src/nat/media-profiles';

const interfaces = { external: 'pub', internal: 'priv' };
const phone = legProfile('nat-phone', interfaces);
const pbx = legProfile('pbx', interfaces);
const browser = legProfile('webrtc', interfaces);
const initial = { callId: 'c1', fromTag: 'caller' };
const answered = { callId: 'c1', fromTag: 'caller', toTag: 'callee' };
const replace = ['origin', 'session-connection'];

describe('legProfile', () => {
  it('faces phones and browsers outward and the PBX inward, strict-source by default', () => {
    assert.deepEqual(phone, {
      kind: 'nat-phone',
      interfaceName: 'pub',
      latching: 'strict-source',
      portLatching: true,
    });
    assert.deepEqual(pbx, {
      kind: 'pbx',
      interfaceName: 'priv',
      latching: 'strict-source',
      portLatching: false,
    });
    assert.equal(browser.interfaceName, 'pub');
  });
});

describe('ngOptionsFor', () => {
  it('phone → PBX offer: plain RTP inward, ICE and mux stripped, phone latched strictly', () => {
    assert.deepEqual(ngOptionsFor('offer', phone, pbx, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['pub', 'priv'],
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
      flags: ['strict-source', 'port-latching'],
    });
  });

  it('PBX answer back to the phone: replace again, no direction, no latching flags for the PBX', () => {
    assert.deepEqual(ngOptionsFor('answer', pbx, phone, answered), {
      'call-id': 'c1',
      'from-tag': 'caller',
      'to-tag': 'callee',
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
    });
  });

  it('PBX → phone offer, and the phone answer with its latching flags', () => {
    assert.deepEqual(ngOptionsFor('offer', pbx, phone, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['priv', 'pub'],
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
    });
    assert.deepEqual(ngOptionsFor('answer', phone, pbx, answered), {
      'call-id': 'c1',
      'from-tag': 'caller',
      'to-tag': 'callee',
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
      flags: ['strict-source', 'port-latching'],
    });
  });

  it('WebRTC → PBX offer converts to RTP/AVP and makes rtpengine ICE-lite toward the browser', () => {
    assert.deepEqual(ngOptionsFor('offer', browser, pbx, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['pub', 'priv'],
      replace,
      ICE: 'remove',
      'ICE-lite': 'backward',
      'rtcp-mux': ['demux'],
      'transport-protocol': 'RTP/AVP',
      flags: ['strict-source', 'port-latching'],
    });
  });

  it('PBX answer to a WebRTC offer: ICE forced, mux required, DTLS-SRTP toward the browser', () => {
    assert.deepEqual(ngOptionsFor('answer', pbx, browser, answered), {
      'call-id': 'c1',
      'from-tag': 'caller',
      'to-tag': 'callee',
      replace,
      ICE: 'force',
      'rtcp-mux': ['require'],
      'transport-protocol': 'UDP/TLS/RTP/SAVPF',
    });
  });

  it('PBX → WebRTC offer: DTLS-SRTP, ICE-lite forward, mux offered and required, no SDES', () => {
    assert.deepEqual(ngOptionsFor('offer', pbx, browser, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['priv', 'pub'],
      replace,
      ICE: 'force',
      'ICE-lite': 'forward',
      'rtcp-mux': ['offer', 'require'],
      'transport-protocol': 'UDP/TLS/RTP/SAVPF',
      SDES: ['off'],
    });
  });

  it('browser answer back to the PBX converts to RTP/AVP and demuxes', () => {
    assert.deepEqual(ngOptionsFor('answer', browser, pbx, answered), {
      'call-id': 'c1',
      'from-tag': 'caller',
      'to-tag': 'callee',
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
      'transport-protocol': 'RTP/AVP',
      flags: ['strict-source', 'port-latching'],
    });
  });

  it('phone → phone stays on the external interface without conversion', () => {
    assert.deepEqual(ngOptionsFor('offer', phone, phone, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['pub', 'pub'],
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
      flags: ['strict-source', 'port-latching'],
    });
  });

  it('browser → browser keeps DTLS and ICE, lite both ways', () => {
    const options = ngOptionsFor('offer', browser, browser, initial);
    assert.equal(options['ICE-lite'], 'both');
    assert.equal(options['transport-protocol'], undefined);
    assert.deepEqual(options.SDES, ['off']);
    assert.deepEqual(options['rtcp-mux'], ['offer', 'require']);
  });

  it('a roaming phone asking for early media to its SIP source gets handover and received-from', () => {
    const roaming = legProfile('nat-phone', interfaces, {
      latching: 'media-handover',
      portLatching: false,
      sipSource: { family: 'IP4', address: '203.0.113.10' },
    });
    assert.deepEqual(ngOptionsFor('offer', roaming, pbx, initial), {
      'call-id': 'c1',
      'from-tag': 'caller',
      direction: ['pub', 'priv'],
      replace,
      ICE: 'remove',
      'rtcp-mux': ['demux'],
      flags: ['media-handover', 'SIP-source-address'],
      'received-from': ['IP4', '203.0.113.10'],
    });
  });

  it('a re-INVITE offer carries the to-tag', () => {
    assert.equal(ngOptionsFor('offer', phone, pbx, answered)['to-tag'], 'callee');
  });
});
