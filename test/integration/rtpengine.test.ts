import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { inspectSdp } from '../../src/nat/sdp-inspect';
import { legProfile } from '../../src/nat/media-profiles';
import { MediaSession } from '../../src/nat/media-session';
import { RtpengineProcess, type LogSink } from '../../src/nat/rtpengine-process';
import { NgError, RtpenginePool } from '../../src/nat/rtpengine-pool';
import { allocatePort } from '../support/ports';

const BINARY = '/usr/bin/rtpengine';
const LOOPBACK = '127.0.0.1';
const interfaces = { external: 'external', internal: 'internal' };
const PACKETS = 50;

const quietLog: LogSink & { lines: string[] } = {
  lines: [],
  error(message: string) {
    this.lines.push(message);
  },
  warn(message: string) {
    this.lines.push(message);
  },
  info(message: string) {
    this.lines.push(message);
  },
  debug(message: string) {
    this.lines.push(message);
  },
};

function plainSdp(origin: string, port: number, session = 'phone'): string {
  return [
    'v=0',
    `o=${session} 1001 1 IN IP4 ${origin}`,
    's=-',
    `c=IN IP4 ${LOOPBACK}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function browserSdp(port: number): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    `m=audio ${port} UDP/TLS/RTP/SAVPF 111 0`,
    'c=IN IP4 192.168.99.58',
    'a=rtcp:9 IN IP4 0.0.0.0',
    `a=candidate:1 1 udp 2122260223 192.168.99.58 ${port} typ host generation 0`,
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 6B:8B:5D:EA:59:04:20:23:29:C8:87:1C:CC:87:32:BE:DD:8C:66:A5:8E:50:55:EA:8C:D3:B6:5C:09:5E:D6:BC',
    'a=setup:actpass',
    'a=mid:0',
    'a=sendrecv',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtpmap:0 PCMU/8000',
    '',
  ].join('\r\n');
}

function bindUdp(): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, LOOPBACK, () => resolve(socket));
  });
}

function rtpPacket(seq: number, ssrc: number): Buffer {
  const packet = Buffer.alloc(172);
  packet[0] = 0x80;
  packet[1] = 0; // PCMU
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

async function sendRtp(socket: dgram.Socket, port: number, ssrc: number): Promise<void> {
  for (let seq = 1; seq <= PACKETS; seq++) {
    socket.send(rtpPacket(seq, ssrc), port, LOOPBACK);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function countFrom(socket: dgram.Socket, ssrc: number): { count: number } {
  const counter = { count: 0 };
  socket.on('message', (msg) => {
    if (msg.length >= 12 && msg.readUInt32BE(8) === ssrc) counter.count++;
  });
  return counter;
}

const mediaPort = (sdp: string) => inspectSdp(sdp).media[0].port;

describe('media anchoring through a real rtpengine on loopback', function () {
  this.timeout(30_000);
  let engine: RtpengineProcess;
  let pool: RtpenginePool;
  let ngPort: number;
  const sockets: dgram.Socket[] = [];

  before(() => {
    assert.ok(fs.existsSync(BINARY), `${BINARY} is missing: make test installs rtpengine-daemon`);
  });

  before(async () => {
    ngPort = await allocatePort();
    engine = new RtpengineProcess({
      binary: BINARY,
      interfaces: [
        { name: 'external', address: LOOPBACK },
        { name: 'internal', address: LOOPBACK },
      ],
      ng: { host: LOOPBACK, port: ngPort },
      ports: { min: 42000, max: 42999 },
      logger: quietLog,
      restartDelayMs: { initial: 100, max: 1000 },
    });
    await engine.start();
    pool = new RtpenginePool([`${LOOPBACK}:${ngPort}`], { timeoutMs: 1000, pingIntervalMs: 60_000 });
    await pool.start();
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    pool?.close();
    await engine?.stop();
  });

  async function socketPair(): Promise<[dgram.Socket, dgram.Socket]> {
    const pair: [dgram.Socket, dgram.Socket] = [await bindUdp(), await bindUdp()];
    sockets.push(...pair);
    return pair;
  }

  it('refuses to start a second rtpengine on an ng port that already answers', async () => {
    const second = new RtpengineProcess({
      binary: BINARY,
      interfaces: [{ name: 'external', address: LOOPBACK }],
      ng: { host: LOOPBACK, port: ngPort },
      ports: { min: 42000, max: 42999 },
      logger: quietLog,
    });
    await assert.rejects(second.start(), /already answers ng/);
    assert.equal(second.pid, undefined);
  });

  it('anchors a NATed phone → PBX call and relays RTP both ways', async () => {
    const [phone, pbx] = await socketPair();
    const callId = `nat-phone-${process.pid}`;
    const session = new MediaSession({
      callId,
      policy: 'nat',
      caller: legProfile('nat-phone', interfaces),
      callee: legProfile('pbx', interfaces),
      ng: pool,
    });
    const offerStarted = process.hrtime.bigint();
    const toPbx = await session.offer({
      sdp: plainSdp('192.168.1.10', phone.address().port),
      from: 'caller',
      tag: 'phone-tag',
      sipSource: '203.0.113.10',
    });
    console.log(
      `      offer round trip incl. SDP inspection: ${Number(process.hrtime.bigint() - offerStarted) / 1e6} ms`,
    );
    assert.deepEqual(session.anchoring, {
      anchor: true,
      reason: 'offer carries unreachable address 192.168.1.10',
    });
    const offered = inspectSdp(toPbx);
    assert.equal(offered.origin.address, LOOPBACK);
    assert.equal(offered.media[0].connection, LOOPBACK);
    assert.equal(offered.media[0].protocol, 'RTP/AVP');
    assert.ok(offered.media[0].port >= 42000 && offered.media[0].port <= 42999);
    assert.ok(!toPbx.includes('192.168.1.10'));
    assert.ok(!/a=(ice-|candidate|rtcp-mux)/.test(toPbx));

    const toPhone = await session.answer({
      sdp: plainSdp('10.0.0.10', pbx.address().port, 'PBX'),
      from: 'callee',
      tag: 'pbx-tag',
      sipSource: LOOPBACK,
    });
    const answered = inspectSdp(toPhone);
    assert.equal(answered.origin.address, LOOPBACK);
    assert.ok(!toPhone.includes('10.0.0.10'));
    assert.equal(answered.media[0].rtcp?.port, answered.media[0].port + 1);

    const atPbx = countFrom(pbx, 0x1111);
    const atPhone = countFrom(phone, 0x2222);
    await Promise.all([
      sendRtp(phone, answered.media[0].port, 0x1111),
      sendRtp(pbx, offered.media[0].port, 0x2222),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(
      `      RTP relayed: phone→PBX ${atPbx.count}/${PACKETS}, PBX→phone ${atPhone.count}/${PACKETS}`,
    );
    assert.ok(atPbx.count >= PACKETS * 0.95, `PBX got ${atPbx.count}`);
    assert.ok(atPhone.count >= PACKETS * 0.95, `phone got ${atPhone.count}`);

    const stats = await pool.query(callId);
    const phoneLeg = stats.legs.find((leg) => leg.tag === 'phone-tag')!;
    const pbxLeg = stats.legs.find((leg) => leg.tag === 'pbx-tag')!;
    assert.equal(phoneLeg.streams[0].packets, atPbx.count);
    assert.equal(pbxLeg.streams[0].packets, atPhone.count);
    assert.equal(phoneLeg.streams[0].endpoint, `${LOOPBACK}:${phone.address().port}`);
    assert.equal(phoneLeg.streams[0].advertised, `${LOOPBACK}:${phone.address().port}`);

    await session.delete();
    await session.delete();
    await assert.rejects(pool.query(callId), /has no rtpengine/);
  });

  it('anchors a PBX → NATed phone call: no address crosses sides', async () => {
    const [pbx, phone] = await socketPair();
    const callId = `pbx-to-phone-${process.pid}`;
    const session = new MediaSession({
      callId,
      policy: 'nat',
      caller: legProfile('pbx', interfaces),
      callee: legProfile('nat-phone', interfaces),
      ng: pool,
    });
    const toPhone = await session.offer({
      sdp: plainSdp('10.0.0.10', pbx.address().port, 'PBX'),
      from: 'caller',
      tag: 'pbx-tag',
      sipSource: LOOPBACK,
    });
    const offered = inspectSdp(toPhone);
    const toPbx = await session.answer({
      sdp: plainSdp('192.168.1.10', phone.address().port),
      from: 'callee',
      tag: 'phone-tag',
      sipSource: '203.0.113.10',
    });
    assert.equal(session.anchoring?.anchor, true, JSON.stringify(session.anchoring));
    const answered = inspectSdp(toPbx);
    assert.equal(answered.origin.address, LOOPBACK);
    assert.equal(answered.media[0].connection, LOOPBACK);
    assert.equal(answered.media[0].protocol, 'RTP/AVP');
    assert.ok(!toPbx.includes('192.168.1.10'), toPbx);
    assert.ok(!/a=(ice-|candidate)/.test(toPbx));
    assert.equal(offered.media[0].connection, LOOPBACK);
    assert.ok(!toPhone.includes('10.0.0.10'), toPhone);

    const atPhone = countFrom(phone, 0x3333);
    const atPbx = countFrom(pbx, 0x4444);
    await Promise.all([
      sendRtp(pbx, answered.media[0].port, 0x3333),
      sendRtp(phone, offered.media[0].port, 0x4444),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(atPhone.count >= PACKETS * 0.95, `phone got ${atPhone.count}`);
    assert.ok(atPbx.count >= PACKETS * 0.95, `PBX got ${atPbx.count}`);
    await session.delete();
  });

  it('converts a WebRTC offer for a plain-RTP PBX and answers the browser with ICE-lite and DTLS', async () => {
    const [, pbx] = await socketPair();
    const session = new MediaSession({
      callId: `webrtc-${process.pid}`,
      policy: 'nat',
      caller: legProfile('webrtc', interfaces),
      callee: legProfile('pbx', interfaces),
      ng: pool,
    });
    const toPbx = await session.offer({
      sdp: browserSdp(45076),
      from: 'caller',
      tag: 'b',
      sipSource: LOOPBACK,
    });
    const offered = inspectSdp(toPbx);
    assert.equal(offered.kind, 'rtp');
    assert.equal(offered.media[0].protocol, 'RTP/AVP');
    assert.ok(!/a=(ice-|candidate|rtcp-mux|fingerprint|setup|crypto|group:BUNDLE)/.test(toPbx), toPbx);
    assert.ok(!toPbx.includes('192.168.99.58'));

    const toBrowser = await session.answer({
      sdp: plainSdp('10.0.0.10', pbx.address().port, 'PBX'),
      from: 'callee',
      tag: 'p',
      sipSource: LOOPBACK,
    });
    const answered = inspectSdp(toBrowser);
    assert.equal(answered.kind, 'webrtc');
    assert.equal(answered.iceLite, true);
    assert.equal(answered.media[0].protocol, 'UDP/TLS/RTP/SAVPF');
    assert.equal(answered.media[0].rtcpMux, true);
    assert.equal(answered.media[0].setup, 'active');
    assert.ok(answered.media[0].fingerprint);
    assert.deepEqual(answered.media[0].cryptoSuites, []);
    assert.deepEqual(
      answered.media[0].candidates.map((c) => [c.address, c.port]),
      [[LOOPBACK, answered.media[0].port]],
    );
    assert.ok(!toBrowser.includes('10.0.0.10'));
    await session.delete();
  });

  it('offers a PBX call to a browser as DTLS-SRTP with ICE-lite and no SDES', async () => {
    const [pbx] = await socketPair();
    const session = new MediaSession({
      callId: `to-webrtc-${process.pid}`,
      policy: 'nat',
      caller: legProfile('pbx', interfaces),
      callee: legProfile('webrtc', interfaces),
      ng: pool,
    });
    const toBrowser = await session.offer({
      sdp: plainSdp('10.0.0.10', pbx.address().port, 'PBX'),
      from: 'caller',
      tag: 'p',
      sipSource: LOOPBACK,
    });
    const offered = inspectSdp(toBrowser);
    assert.equal(offered.iceLite, true);
    assert.equal(offered.media[0].protocol, 'UDP/TLS/RTP/SAVPF');
    assert.equal(offered.media[0].setup, 'actpass');
    assert.equal(offered.media[0].rtcpMux, true);
    assert.deepEqual(offered.media[0].cryptoSuites, []);
    assert.ok(!toBrowser.includes('10.0.0.10'));
    await session.delete();
  });

  it('fails a new call within the timeout when rtpengine is down, and succeeds after the restart', async () => {
    const pid = engine.pid!;
    const restarted = new Promise<number>((resolve) => engine.once('ready', resolve));
    process.kill(pid, 'SIGKILL');
    const session = () =>
      new MediaSession({
        callId: `after-kill-${Date.now()}`,
        policy: 'always',
        caller: legProfile('nat-phone', interfaces),
        callee: legProfile('pbx', interfaces),
        ng: pool,
      });
    const hop = {
      sdp: plainSdp('192.168.1.10', 40000),
      from: 'caller' as const,
      tag: 't',
      sipSource: LOOPBACK,
    };
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The restart may already be up; only a failure must be the clear, bounded one.
    const early = await session()
      .offer(hop)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    console.log(
      `      offer while rtpengine was down: ${early === undefined ? 'restart was faster' : String(early)}`,
    );
    if (early !== undefined) {
      assert.ok(early instanceof NgError && /no rtpengine answered offer/.test(early.message), String(early));
      assert.ok(Date.now() - started < 3000);
    }
    const newPid = await restarted;
    assert.notEqual(newPid, pid);
    const sdp = await session().offer(hop);
    assert.ok(mediaPort(sdp) >= 42000);
  });
});

describe('a pool of two real rtpengines', function () {
  this.timeout(30_000);
  const engines: RtpengineProcess[] = [];
  let pool: RtpenginePool;
  const endpoints: string[] = [];

  before(async () => {
    for (const ports of [
      { min: 43000, max: 43499 },
      { min: 43500, max: 43999 },
    ]) {
      const ngPort = await allocatePort();
      const engine = new RtpengineProcess({
        binary: BINARY,
        interfaces: [
          { name: 'external', address: LOOPBACK },
          { name: 'internal', address: LOOPBACK },
        ],
        ng: { host: LOOPBACK, port: ngPort },
        ports,
        logger: quietLog,
      });
      await engine.start();
      engines.push(engine);
      endpoints.push(`${LOOPBACK}:${ngPort}`);
    }
    pool = new RtpenginePool(endpoints, { timeoutMs: 1000, pingIntervalMs: 60_000 });
    await pool.start();
  });

  after(async () => {
    pool?.close();
    await Promise.all(engines.map((engine) => engine.stop()));
  });

  function offer(callId: string) {
    return new MediaSession({
      callId,
      policy: 'always',
      caller: legProfile('nat-phone', interfaces),
      callee: legProfile('pbx', interfaces),
      ng: pool,
    }).offer({ sdp: plainSdp('192.168.1.10', 40000), from: 'caller', tag: 't', sipSource: LOOPBACK });
  }

  it('spreads new calls over both, keeps each on its own, and moves new calls away from a dead one', async () => {
    for (let i = 0; i < 20; i++) await offer(`spread-${i}`);
    const used = new Set(Array.from({ length: 20 }, (_, i) => pool.endpointFor(`spread-${i}`)));
    assert.deepEqual([...used].sort(), [...endpoints].sort(), 'both rtpengines took calls');
    const onSecond = Array.from({ length: 20 }, (_, i) => `spread-${i}`).find(
      (id) => pool.endpointFor(id) === endpoints[1],
    )!;
    assert.equal((await pool.query(onSecond)).endpoint, endpoints[1], 'a call is queried where it lives');

    await engines[1].stop();
    const started = Date.now();
    const timings: number[] = [];
    for (let i = 0; i < 10; i++) {
      const begun = Date.now();
      const sdp = await offer(`after-death-${i}`);
      timings.push(Date.now() - begun);
      assert.ok(mediaPort(sdp) >= 43000 && mediaPort(sdp) < 43500, `served by the live rtpengine: ${sdp}`);
      assert.equal(pool.endpointFor(`after-death-${i}`), endpoints[0]);
    }
    assert.deepEqual(
      pool.health().map((member) => member.healthy),
      [true, false],
    );
    // Only the first call that tries the dead one waits for its timeout; later ones skip it.
    assert.ok(timings.filter((ms) => ms >= 500).length <= 1, `offer times: ${timings.join(', ')} ms`);
    console.log(
      `      10 new calls after one rtpengine died: all on the live one in ${Date.now() - started} ms (offers: ${timings.join(', ')} ms)`,
    );
    await assert.rejects(pool.query(onSecond), NgError);
  });
});
