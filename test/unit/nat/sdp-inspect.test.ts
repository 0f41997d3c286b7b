import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AddressClassifier } from '../../../src/nat/address-class';
import { inspectSdp, SdpInspectError, type SdpSummary } from '../../../src/nat/sdp-inspect';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures/sdp');

interface ManifestEntry {
  file: string;
  sha256: string;
  bytes: number;
}

/** What each corpus SDP must read as: per media [type, port, protocol, c=, direction, rtcp port, mux, ICE candidates, setup]. */
interface Expected {
  kind: SdpSummary['kind'];
  origin: string;
  sessionConnection?: string;
  bundle: string[];
  media: [string, number, string, string, string, number | undefined, boolean, number, string | undefined][];
  ufrag?: string;
  fingerprint: boolean;
  /** "where:address@media" for each unreachable address, in document order. */
  privates: string[];
}

const EXPECTED: Record<string, Expected> = {
  'asterisk_chan_sip_offer_private_ip.sdp': {
    kind: 'rtp',
    origin: '192.168.1.11',
    sessionConnection: '192.168.1.11',
    bundle: [],
    media: [['audio', 14390, 'RTP/AVP', '192.168.1.11', 'sendrecv', undefined, false, 0, undefined]],
    fingerprint: false,
    privates: ['origin:192.168.1.11', 'session-connection:192.168.1.11'],
  },
  'asterisk_opus_answer_private_origin.sdp': {
    kind: 'rtp',
    origin: '10.27.45.45',
    sessionConnection: '198.51.100.65',
    bundle: [],
    media: [['audio', 3002, 'RTP/AVP', '198.51.100.65', 'sendrecv', undefined, false, 0, undefined]],
    fingerprint: false,
    privates: ['origin:10.27.45.45'],
  },
  'chrome_audio_offer_bundle_rtcpmux_private_ipv4_ipv6.sdp': {
    kind: 'webrtc',
    origin: '127.0.0.1',
    bundle: ['audio'],
    media: [['audio', 45076, 'UDP/TLS/RTP/SAVPF', '192.168.99.58', 'sendrecv', 9, true, 4, 'actpass']],
    ufrag: '5+Ix',
    fingerprint: true,
    privates: [
      'origin:127.0.0.1',
      'media-connection:192.168.99.58@0',
      'candidate:192.168.99.58@0',
      'candidate:192.168.99.58@0',
    ],
  },
  'chrome_audio_video_offer_bundle.sdp': {
    kind: 'webrtc',
    origin: '127.0.0.1',
    bundle: ['video'],
    media: [['video', 34955, 'UDP/TLS/RTP/SAVPF', '10.101.2.67', 'sendrecv', 9, true, 2, 'actpass']],
    ufrag: '9KhP',
    fingerprint: true,
    privates: [
      'origin:127.0.0.1',
      'media-connection:10.101.2.67@0',
      'candidate:10.101.2.67@0',
      'candidate:10.101.2.67@0',
    ],
  },
  'chrome_modern_offer_mdns_srflx_extmap_allow_mixed.sdp': {
    kind: 'webrtc',
    origin: '127.0.0.1',
    bundle: ['0', '1', '2'],
    media: [
      ['video', 52200, 'UDP/TLS/RTP/SAVPF', '186.50.9.10', 'recvonly', 9, true, 3, 'actpass'],
      ['audio', 57217, 'UDP/TLS/RTP/SAVPF', '186.50.9.10', 'recvonly', 9, true, 3, 'actpass'],
      ['video', 9, 'UDP/TLS/RTP/SAVPF', '0.0.0.0', 'recvonly', 9, true, 0, 'actpass'],
    ],
    ufrag: 'gydc',
    fingerprint: true,
    // The .local host candidate is an mDNS name, and raddr 0.0.0.0 is a placeholder.
    privates: ['origin:127.0.0.1'],
  },
  'cisco_cucm_offer.sdp': {
    kind: 'rtp',
    origin: '22.22.220.163',
    sessionConnection: '33.33.41.40',
    bundle: [],
    media: [
      ['audio', 18860, 'RTP/AVP', '33.33.41.40', 'sendrecv', undefined, false, 0, undefined],
      ['video', 19952, 'RTP/AVP', '33.33.41.40', 'sendrecv', undefined, false, 0, undefined],
      ['application', 27814, 'RTP/AVP', '33.33.41.40', 'sendrecv', undefined, false, 0, undefined],
    ],
    fingerprint: false,
    privates: [],
  },
  'firefox58_audio_offer_private_ip.sdp': {
    kind: 'webrtc',
    origin: '0.0.0.0',
    bundle: ['sdparta_0'],
    media: [['audio', 45274, 'UDP/TLS/RTP/SAVPF', '192.168.99.58', 'sendrecv', 38612, true, 10, 'actpass']],
    ufrag: '403a81e1',
    fingerprint: true,
    privates: [
      'media-connection:192.168.99.58@0',
      'rtcp:192.168.99.58@0',
      'candidate:192.168.99.58@0',
      'candidate:192.168.99.58@0',
      'candidate:192.168.99.58@0',
      'candidate:192.168.99.58@0',
      'candidate-raddr:192.168.99.58@0',
      'candidate-raddr:192.168.99.58@0',
    ],
  },
  'firefox61_audio_video_offer.sdp': {
    kind: 'webrtc',
    origin: '0.0.0.0',
    bundle: ['sdparta_0'],
    media: [['video', 42738, 'UDP/TLS/RTP/SAVPF', '192.168.99.7', 'sendrecv', 52914, true, 4, 'actpass']],
    ufrag: '1a0e6b24',
    fingerprint: true,
    privates: [
      'media-connection:192.168.99.7@0',
      'rtcp:192.168.99.7@0',
      'candidate:192.168.99.7@0',
      'candidate:192.168.99.7@0',
      'candidate:192.168.99.7@0',
      'candidate:192.168.99.7@0',
    ],
  },
  'freeswitch_rtp_avp_answer.sdp': {
    kind: 'rtp',
    origin: '178.238.96.232',
    sessionConnection: '178.238.96.232',
    bundle: [],
    media: [['audio', 10096, 'RTP/AVP', '178.238.96.232', 'sendrecv', 10097, false, 0, undefined]],
    fingerprint: false,
    privates: [],
  },
  'freeswitch_webrtc_answer_dtls.sdp': {
    kind: 'webrtc',
    origin: '1.2.3.4',
    sessionConnection: '1.2.3.4',
    bundle: [],
    media: [['audio', 16628, 'UDP/TLS/RTP/SAVPF', '1.2.3.4', 'sendrecv', 16628, true, 1, 'active']],
    ufrag: '75EDuLTEOkEUd3cu',
    fingerprint: true,
    privates: [],
  },
  'freeswitch_webrtc_no_dtls.sdp': {
    kind: 'webrtc',
    origin: '1.2.3.4',
    sessionConnection: '1.2.3.4',
    bundle: [],
    media: [['audio', 16628, 'UDP/TLS/RTP/SAVPF', '1.2.3.4', 'sendrecv', 16628, true, 1, undefined]],
    ufrag: '75EDuLTEOkEUd3cu',
    fingerprint: false,
    privates: [],
  },
  'linphone_behind_nat_ice_host_srflx.sdp': {
    kind: 'rtp',
    origin: '192.168.3.181',
    sessionConnection: '192.168.3.181',
    bundle: [],
    media: [['audio', 61794, 'RTP/AVP', '115.205.103.101', 'sendrecv', 50735, false, 4, undefined]],
    // Session-level ICE credentials apply to the m= section.
    ufrag: '409dfd53',
    fingerprint: false,
    privates: [
      'origin:192.168.3.181',
      'session-connection:192.168.3.181',
      'candidate:192.168.3.181@0',
      'candidate:192.168.3.181@0',
      'candidate-raddr:192.168.3.181@0',
      'candidate-raddr:192.168.3.181@0',
    ],
  },
  'pjsip_pjmedia_behind_nat.sdp': {
    kind: 'rtp',
    origin: '192.168.1.202',
    bundle: [],
    media: [['audio', 4002, 'RTP/AVP', '192.168.1.202', 'sendrecv', 4003, false, 0, undefined]],
    fingerprint: false,
    privates: ['origin:192.168.1.202', 'media-connection:192.168.1.202@0', 'rtcp:192.168.1.202@0'],
  },
  'safari_offer.sdp': {
    kind: 'webrtc',
    origin: '127.0.0.1',
    bundle: ['audio', 'video', 'data'],
    media: [
      ['audio', 61015, 'UDP/TLS/RTP/SAVPF', '1.2.3.4', 'sendrecv', 9, true, 3, 'actpass'],
      ['video', 51044, 'UDP/TLS/RTP/SAVPF', '1.2.3.4', 'sendrecv', 9, true, 3, 'actpass'],
      ['application', 60277, 'DTLS/SCTP', '1.2.3.4', 'sendrecv', undefined, false, 3, 'actpass'],
    ],
    ufrag: 'XSmV',
    fingerprint: true,
    privates: [
      'origin:127.0.0.1',
      'candidate:192.168.0.87@0',
      'candidate-raddr:192.168.0.87@0',
      'candidate:192.168.0.87@1',
      'candidate-raddr:192.168.0.87@1',
      'candidate:192.168.0.87@2',
      'candidate-raddr:192.168.0.87@2',
    ],
  },
  'zoiper_style_offer_private_ip.sdp': {
    kind: 'rtp',
    origin: '192.168.1.1',
    sessionConnection: '192.168.1.1',
    bundle: [],
    media: [['audio', 8000, 'RTP/AVP', '192.168.1.1', 'sendrecv', undefined, false, 0, undefined]],
    fingerprint: false,
    privates: ['origin:192.168.1.1', 'session-connection:192.168.1.1'],
  },
};

function readFixture(file: string): string {
  return fs.readFileSync(path.join(fixtures, file), 'utf8');
}

describe('inspectSdp', () => {
  describe('the SDP corpus', () => {
    const manifest = JSON.parse(readFixture('MANIFEST.json')) as ManifestEntry[];
    const files = fs.readdirSync(fixtures).filter((file) => file.endsWith('.sdp'));

    it('has every file listed in MANIFEST.json, unchanged, and an expectation for each', () => {
      assert.deepEqual(files.sort(), manifest.map((entry) => entry.file).sort());
      assert.deepEqual(Object.keys(EXPECTED).sort(), files.sort());
      for (const entry of manifest) {
        const bytes = fs.readFileSync(path.join(fixtures, entry.file));
        assert.equal(bytes.length, entry.bytes, entry.file);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), entry.sha256, entry.file);
      }
    });

    for (const [file, expected] of Object.entries(EXPECTED)) {
      it(`reads ${file}`, () => {
        const summary = inspectSdp(readFixture(file));
        assert.equal(summary.kind, expected.kind);
        assert.equal(summary.origin.address, expected.origin);
        assert.equal(summary.sessionConnection, expected.sessionConnection);
        assert.deepEqual(summary.bundle, expected.bundle);
        assert.deepEqual(
          summary.media.map((m) => [
            m.type,
            m.port,
            m.protocol,
            m.connection,
            m.direction,
            m.rtcp?.port,
            m.rtcpMux,
            m.candidates.length,
            m.setup,
          ]),
          expected.media,
        );
        for (const m of summary.media) {
          assert.equal(m.iceUfrag, expected.ufrag);
          assert.equal(m.fingerprint !== undefined, expected.fingerprint);
          assert.deepEqual(m.cryptoSuites, []);
          assert.equal(m.comedia, false);
        }
        assert.equal(summary.iceLite, false);
        assert.deepEqual(
          summary.privateAddresses.map(
            (p) => `${p.where}:${p.address}${p.media === undefined ? '' : `@${p.media}`}`,
          ),
          expected.privates,
        );
      });
    }

    it('reports the class of each unreachable address', () => {
      const chrome = inspectSdp(readFixture('chrome_audio_offer_bundle_rtcpmux_private_ipv4_ipv6.sdp'));
      assert.deepEqual(
        chrome.privateAddresses.slice(0, 2).map((p) => p.class),
        ['loopback', 'private'],
      );
    });

    it('reads the srflx candidate with its related address', () => {
      const linphone = inspectSdp(readFixture('linphone_behind_nat_ice_host_srflx.sdp'));
      assert.deepEqual(linphone.media[0].candidates[2], {
        foundation: '2',
        component: 1,
        transport: 'UDP',
        address: '115.205.103.101',
        port: 61794,
        type: 'srflx',
        relatedAddress: '192.168.3.181',
        relatedPort: 61794,
      });
    });
  });

  describe('attributes the corpus lacks', () => {
    const base = ['v=0', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', 'c=IN IP4 203.0.113.5', 't=0 0'];
    const sdp = (...lines: string[]) => [...base, ...lines, ''].join('\r\n');

    it('classifies SDES SRTP and lists its crypto suites', () => {
      const summary = inspectSdp(
        sdp(
          'm=audio 5000 RTP/SAVP 0',
          'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4',
          'a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32',
        ),
      );
      assert.equal(summary.kind, 'srtp-sdes');
      assert.deepEqual(summary.media[0].cryptoSuites, ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']);
    });

    it('reports session-level ice-lite', () => {
      const summary = inspectSdp(
        [...base.slice(0, 4), 'a=ice-lite', 't=0 0', 'm=audio 5000 RTP/AVP 0', ''].join('\r\n'),
      );
      assert.equal(summary.iceLite, true);
    });

    it('sees COMEDIA from a=direction:active and from port 9 without ICE', () => {
      assert.equal(inspectSdp(sdp('m=audio 5000 RTP/AVP 0', 'a=direction:active')).media[0].comedia, true);
      assert.equal(inspectSdp(sdp('m=audio 9 RTP/AVP 0')).media[0].comedia, true);
      assert.equal(inspectSdp(sdp('m=audio 9 RTP/AVP 0', 'a=ice-ufrag:abcd')).media[0].comedia, false);
    });

    it('reads a BUNDLE group of one numeric mid', () => {
      const summary = inspectSdp(
        [...base.slice(0, 4), 't=0 0', 'a=group:BUNDLE 0', 'm=audio 5000 RTP/AVP 0', 'a=mid:0', ''].join(
          '\r\n',
        ),
      );
      assert.deepEqual(summary.bundle, ['0']);
      assert.equal(summary.media[0].mid, '0');
    });

    it('uses the session direction when the m= section has none', () => {
      const summary = inspectSdp(sdp('a=sendonly', 'm=audio 5000 RTP/AVP 0'));
      assert.equal(summary.media[0].direction, 'sendonly');
    });

    it('counts operator-declared local networks as unreachable', () => {
      const summary = inspectSdp(sdp('m=audio 5000 RTP/AVP 0'), new AddressClassifier(['203.0.113.0/24']));
      assert.deepEqual(
        summary.privateAddresses.map((p) => [p.where, p.class]),
        [
          ['origin', 'local-network'],
          ['session-connection', 'local-network'],
        ],
      );
    });

    it('finds private IPv6 (ULA) addresses', () => {
      const summary = inspectSdp(
        [
          'v=0',
          'o=- 1 1 IN IP6 fd00::5',
          's=-',
          'c=IN IP6 fd00::5',
          't=0 0',
          'm=audio 5000 RTP/AVP 0',
          '',
        ].join('\r\n'),
      );
      assert.deepEqual(
        summary.privateAddresses.map((p) => p.class),
        ['ula', 'ula'],
      );
    });
  });

  describe('malformed SDP', () => {
    const cases: [string, string, RegExp][] = [
      ['empty', '', /SDP is empty/],
      ['not starting with v=0', 'o=- 1 1 IN IP4 1.2.3.4\r\n', /must start with v=0/],
      ['a line that is not type=value', 'v=0\r\nhello world\r\n', /not an SDP line: "hello world"/],
      [
        'no o= line',
        'v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n',
        /no valid o= line/,
      ],
      [
        'an m= line without port',
        'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio\r\n',
        /m= line 0 has no valid port/,
      ],
      [
        'a stream without any c=',
        'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n',
        /m= line 0 has no c= line/,
      ],
      ['an HTML page', '<html><body>hi</body></html>', /must start with v=0/],
    ];
    for (const [name, text, message] of cases) {
      it(`refuses ${name} with an SdpInspectError`, () => {
        assert.throws(
          () => inspectSdp(text),
          (err: unknown) => err instanceof SdpInspectError && message.test(err.message),
        );
      });
    }
  });
});
