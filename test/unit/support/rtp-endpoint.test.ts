import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { audioTarget, RtpEndpoint } from '../../support/rtp-endpoint';

const LOOPBACK = '127.0.0.1';

/** A plain socket that records raw datagrams, to see exactly what an endpoint puts on the wire. */
async function openRawSocket(): Promise<{ socket: dgram.Socket; port: number; packets: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const packets: Buffer[] = [];
  socket.on('message', (packet) => packets.push(packet));
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return { socket, port: (socket.address() as AddressInfo).port, packets };
}

function sendRaw(socket: dgram.Socket, packet: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(packet, port, LOOPBACK, (error) => (error ? reject(error) : resolve())),
  );
}

function rtpPacket(options: { version?: number; csrcCount?: number; length?: number } = {}): Buffer {
  const packet = Buffer.alloc(options.length ?? 172);
  packet[0] = ((options.version ?? 2) << 6) | (options.csrcCount ?? 0);
  packet[1] = 0;
  return packet;
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('RtpEndpoint', function () {
  this.timeout(10000);
  const opened: RtpEndpoint[] = [];
  const rawSockets: dgram.Socket[] = [];

  async function endpoint(): Promise<RtpEndpoint> {
    const created = await RtpEndpoint.open();
    opened.push(created);
    return created;
  }

  async function raw(): Promise<Awaited<ReturnType<typeof openRawSocket>>> {
    const created = await openRawSocket();
    rawSockets.push(created.socket);
    return created;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((created) => created.close()));
    for (const socket of rawSockets.splice(0)) socket.close();
  });

  it('binds 127.0.0.1 on a free port, or on the port it is given', async () => {
    const first = await endpoint();
    assert.equal(first.address, LOOPBACK);
    assert.ok(first.port > 0);
    const probe = await raw();
    const port = probe.port;
    probe.socket.close();
    rawSockets.pop();
    const second = await RtpEndpoint.open({ port });
    opened.push(second);
    assert.equal(second.port, port);
    await assert.rejects(RtpEndpoint.open({ port }), /EADDRINUSE/);
  });

  it('counts the packets another endpoint sends and remembers the sender', async () => {
    const a = await endpoint();
    const b = await endpoint();
    await a.send({ host: LOOPBACK, port: b.port }, 20, 5);
    assert.equal(a.sent, 20);
    assert.equal(await b.waitForReceived(20, 2000), 20);
    assert.equal(b.rtcpReceived, 0);
    assert.deepEqual([...b.sources], [`${LOOPBACK}:${a.port}`]);
    assert.equal(a.received, 0);
  });

  it('sends RTP v2 PCMU with 160-byte payloads, rising sequence and timestamp, one SSRC', async () => {
    const a = await endpoint();
    const sink = await raw();
    await a.send({ host: LOOPBACK, port: sink.port }, 3, 5);
    await a.send({ host: LOOPBACK, port: sink.port }, 2, 5);
    await until(() => sink.packets.length === 5);
    const ssrc = sink.packets[0].readUInt32BE(8);
    sink.packets.forEach((packet, i) => {
      assert.equal(packet.length, 12 + 160);
      assert.equal(packet[0], 0x80, 'version 2, no padding, extension or CSRCs');
      assert.equal(packet[1], 0, 'payload type 0, no marker');
      assert.equal(packet.readUInt32BE(8), ssrc);
      if (i === 0) return;
      const previous = sink.packets[i - 1];
      assert.equal(packet.readUInt16BE(2), (previous.readUInt16BE(2) + 1) & 0xffff);
      assert.equal(packet.readUInt32BE(4), (previous.readUInt32BE(4) + 160) >>> 0);
    });
  });

  it('echoes RTP back to its source while echo is enabled', async () => {
    const phone = await endpoint();
    const pbx = await endpoint();
    pbx.echo(true);
    await phone.send({ host: LOOPBACK, port: pbx.port }, 10, 5);
    assert.equal(await phone.waitForReceived(10, 2000), 10);
    assert.equal(pbx.received, 10);
    assert.equal(pbx.sent, 0, 'echoed packets are not counted as sent');

    pbx.echo(false);
    await phone.send({ host: LOOPBACK, port: pbx.port }, 5, 5);
    await pbx.waitForReceived(15, 2000);
    assert.equal(await phone.waitForReceived(11, 200), 10, 'nothing comes back once echo is off');
  });

  it('counts RTCP apart from RTP', async () => {
    const b = await endpoint();
    const sender = await raw();
    const receiverReport = Buffer.from([0x80, 201, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]);
    const senderReport = Buffer.alloc(28);
    senderReport[0] = 0x80;
    senderReport[1] = 200;
    await sendRaw(sender.socket, receiverReport, b.port);
    await sendRaw(sender.socket, senderReport, b.port);
    await sendRaw(sender.socket, rtpPacket(), b.port);
    assert.equal(await b.waitForReceived(1, 2000), 1);
    await until(() => b.rtcpReceived === 2);
    assert.equal(b.received, 1);
  });

  it('ignores short, non-v2 and truncated datagrams without failing', async () => {
    const b = await endpoint();
    const sender = await raw();
    const withExtension = rtpPacket({ length: 14 });
    withExtension[0] |= 0x10; // extension flag set but no room for its header
    const overPadded = rtpPacket({ length: 20 });
    overPadded[0] |= 0x20;
    overPadded[19] = 200; // more padding than the packet holds
    const junk = [
      Buffer.alloc(0),
      Buffer.from([0x80, 0x00, 0x01]),
      rtpPacket({ version: 1 }),
      rtpPacket({ csrcCount: 15, length: 40 }),
      withExtension,
      overPadded,
      Buffer.from('hello, this is not RTP at all'),
    ];
    for (const packet of junk) await sendRaw(sender.socket, packet, b.port);
    await sendRaw(sender.socket, rtpPacket(), b.port);
    assert.equal(await b.waitForReceived(1, 2000), 1);
    assert.equal(await b.waitForReceived(2, 100), 1);
    assert.equal(b.rtcpReceived, 0);
  });

  it('waitForReceived resolves with what arrived when time runs out', async () => {
    const a = await endpoint();
    const b = await endpoint();
    await a.send({ host: LOOPBACK, port: b.port }, 3, 1);
    const started = Date.now();
    assert.equal(await b.waitForReceived(50, 150), 3);
    assert.ok(Date.now() - started >= 140);
  });

  it('close ends a stream in progress and releases waiters', async () => {
    const a = await endpoint();
    const b = await endpoint();
    const stream = a.send({ host: LOOPBACK, port: b.port }, 1000, 20);
    const waiting = b.waitForReceived(1000, 60000);
    await b.waitForReceived(2, 2000);
    await Promise.all([a.close(), b.close()]);
    await stream;
    assert.ok(a.sent < 1000);
    assert.ok((await waiting) < 1000);
  });

  it('survives sending to an address it cannot reach', async () => {
    const a = await endpoint();
    await a.send({ host: '192.0.2.1', port: 9 }, 2, 1);
    await a.send({ host: '::1', port: 9 }, 1, 1);
    assert.equal(a.sent, 3);
  });
});

describe('audioTarget', () => {
  it('takes the session connection address and the audio port', () => {
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
    assert.deepEqual(audioTarget(sdp), { host: '10.0.0.2', port: 4000 });
  });

  it('prefers the audio section own c= line and skips other media', () => {
    const sdp = [
      'v=0',
      'c=IN IP4 10.0.0.2',
      'm=video 5000 RTP/AVP 96',
      'c=IN IP4 10.0.0.9',
      'm=audio 4002 RTP/AVP 0',
      'c=IN IP4 192.168.77.10/127',
      'm=audio 4004 RTP/AVP 0',
      'c=IN IP4 10.9.9.9',
    ].join('\n');
    assert.deepEqual(audioTarget(sdp), { host: '192.168.77.10', port: 4002 });
  });

  it('is null without audio, without a connection address, or for a rejected stream', () => {
    assert.equal(audioTarget('v=0\r\nc=IN IP4 10.0.0.2\r\nm=video 5000 RTP/AVP 96\r\n'), null);
    assert.equal(audioTarget('v=0\r\nm=audio 4000 RTP/AVP 0\r\n'), null);
    assert.equal(audioTarget('v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 0 RTP/AVP 0\r\n'), null);
    assert.equal(audioTarget('v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio\r\n'), null);
    assert.equal(audioTarget(''), null);
  });

  it('reads IPv6 connection addresses', () => {
    assert.deepEqual(audioTarget('v=0\nc=IN IP6 ::1\nm=audio 4000 RTP/AVP 0\n'), { host: '::1', port: 4000 });
  });
});
