import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import WebSocket from 'ws';
import type Srf from 'drachtio-srf';
import { parseMessage, SipRequest, SipResponse } from '../../src/sipserver/message';
import {
  delay,
  eventually,
  requestStatus,
  SECRET,
  startEmbedded,
  type EmbeddedHarness,
} from '../support/embedded';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { parseMessageLog, runSipp, startSippServer } from '../support/sipp';

interface Seen {
  method: string;
  source_address: string;
  source_port: number;
  protocol: string;
  receivedOn: string;
}

function rawRequest(
  method: string,
  port: number,
  opts: { branch?: string; callId?: string; via?: string } = {},
): string {
  const via =
    opts.via ??
    `SIP/2.0/UDP 127.0.0.1:${port};branch=${opts.branch ?? 'z9hG4bK' + Math.random().toString(36).slice(2)};rport`;
  return [
    `${method} sip:pinhole@127.0.0.1 SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    'To: <sip:pinhole@example.com>',
    `Call-ID: ${opts.callId ?? Math.random().toString(36).slice(2)}`,
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('embedded SIP server: out-of-dialog requests with a real drachtio-srf app', function () {
  this.timeout(30000);
  let harness: EmbeddedHarness;
  let srf: Srf;
  const seen: Seen[] = [];

  before(async () => {
    harness = await startEmbedded();
    srf = await harness.connectApp();
    for (const method of ['options', 'register', 'message']) {
      srf.use(method, (req, res) => {
        const r = req as unknown as Seen & { method: string };
        seen.push({
          method: r.method,
          source_address: r.source_address,
          source_port: Number(r.source_port),
          protocol: r.protocol,
          receivedOn: r.receivedOn,
        });
        if (r.method === 'REGISTER')
          res.send(200, { headers: { Contact: req.get('Contact'), Expires: '300' } });
        else res.send(200);
      });
    }
  });

  after(async () => {
    await stopAll();
    await harness.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`answers sipp OPTIONS, REGISTER and MESSAGE over ${transport.toUpperCase()} through the app`, async () => {
      const localPort = await allocatePort();
      seen.length = 0;
      for (const scenario of ['uac-options.xml', 'uac-register.xml', 'uac-message.xml']) {
        const result = await runSipp({
          scenario,
          remote: `127.0.0.1:${harness.sipPort}`,
          localPort,
          transport,
          service: 'pinhole',
        });
        assert.equal(result.exitCode, 0, `${scenario} failed:\n${result.errors}\n${result.messages}`);
        if (scenario === 'uac-register.xml') {
          const ok = parseMessageLog(result.messages).find(
            (m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 200'),
          );
          assert.ok(ok, 'sipp logged the 200');
          assert.match(ok.text, new RegExp(`received=127\\.0\\.0\\.1`));
          assert.match(ok.text, new RegExp(`rport=${localPort}`));
        }
      }
      assert.deepEqual(
        seen.map((s) => s.method),
        ['OPTIONS', 'REGISTER', 'MESSAGE'],
      );
      for (const s of seen) {
        assert.equal(s.source_address, '127.0.0.1');
        assert.equal(s.source_port, localPort);
        assert.equal(s.protocol, transport);
        assert.equal(s.receivedOn, `127.0.0.1:${harness.sipPort}`);
      }
    });
  }

  it('sends srf.request() OPTIONS to a sipp UAS and gets its 200', async () => {
    const uasPort = await allocatePort();
    const uas = startSippServer({ scenario: 'uas-options.xml', localPort: uasPort, calls: 1 });
    await uas.ready;
    const status = await requestStatus(srf, `sip:sipp@127.0.0.1:${uasPort}`, 'OPTIONS');
    assert.equal(status, 200);
    const result = await uas.done;
    assert.equal(result.exitCode, 0, result.errors);
  });

  it('sends later requests to a WebSocket-registered user down the same WebSocket', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${harness.wsPort}`, 'sip');
    const received: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const register = [
      `REGISTER sip:example.com SIP/2.0`,
      'Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKwsreg1',
      'Max-Forwards: 70',
      'From: <sip:webrtc@example.com>;tag=w1',
      'To: <sip:webrtc@example.com>',
      'Call-ID: ws-reg-1',
      'CSeq: 1 REGISTER',
      'Contact: <sip:k3l2j4@df7jal23ls0d.invalid;transport=ws>;expires=300',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    ws.send(register);
    await eventually(() => received.some((m) => m.startsWith('SIP/2.0 200')), 'the 200 to REGISTER over WS');
    const reg = seen.find((s) => s.method === 'REGISTER' && s.receivedOn === `127.0.0.1:${harness.wsPort}`);
    assert.ok(reg, 'app saw the REGISTER received on the WS listener');
    assert.equal(reg.protocol, 'tcp', 'drachtio reports WS as tcp');

    ws.on('message', (data) => {
      const text = data.toString();
      if (!text.startsWith('OPTIONS')) return;
      const request = parseMessage(Buffer.from(text)) as SipRequest;
      const ok = new SipResponse(200, 'OK');
      for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) ok.append(name, request.get(name) ?? '');
      ws.send(ok.toBuffer().toString());
    });
    const status = await requestStatus(srf, 'sip:k3l2j4@df7jal23ls0d.invalid;transport=ws', 'OPTIONS');
    assert.equal(status, 200);
    assert.ok(
      received.some((m) => m.startsWith('OPTIONS sip:k3l2j4@df7jal23ls0d.invalid')),
      'OPTIONS came down the WebSocket',
    );
    ws.close();
  });

  it('delivers a retransmitted UDP request to the app once and re-sends the lost response', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const responses: string[] = [];
    socket.on('message', (m) => responses.push(m.toString()));
    const port = socket.address().port;
    const message = rawRequest('OPTIONS', port, { branch: 'z9hG4bKretrans1', callId: 'retrans-1' });
    const before = seen.length;
    socket.send(message, harness.sipPort, '127.0.0.1');
    await eventually(() => responses.length === 1, 'first 200');
    socket.send(message, harness.sipPort, '127.0.0.1');
    await eventually(() => responses.length === 2, 'the 200 re-sent on retransmission');
    await delay(200);
    assert.equal(seen.length - before, 1, 'the app saw the request once');
    assert.equal(responses[0], responses[1]);
    socket.close();
  });

  describe('bad input', () => {
    it('counts garbage datagrams, answers 400 to a malformed request, and keeps serving', async () => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      const replies: string[] = [];
      socket.on('message', (m) => replies.push(m.toString()));
      const port = socket.address().port;
      const before = harness.server.stats().badInput;
      socket.send(Buffer.from([0, 1, 2, 3, 255, 254]), harness.sipPort, '127.0.0.1');
      socket.send('INVITE garbage\r\n\r\n', harness.sipPort, '127.0.0.1');
      const bad = rawRequest('OPTIONS', port).replace('CSeq: 1 OPTIONS', 'CSeq: one OPTIONS');
      socket.send(bad, harness.sipPort, '127.0.0.1');
      await eventually(() => replies.some((r) => r.startsWith('SIP/2.0 400')), 'a 400 for the bad CSeq');
      assert.match(
        replies.find((r) => r.startsWith('SIP/2.0 400')) ?? '',
        /Warning: 399 pinhole "invalid CSeq/,
      );
      assert.ok(harness.server.stats().badInput >= before + 3, 'each bad message is counted');
      socket.send(rawRequest('OPTIONS', port), harness.sipPort, '127.0.0.1');
      await eventually(
        () => replies.some((r) => r.startsWith('SIP/2.0 200')),
        'a good request still answered',
      );
      socket.close();
    });

    it('closes a TCP connection that sends an oversized or unframed message, other connections unaffected', async () => {
      const good = net.connect(harness.sipPort, '127.0.0.1');
      const bad = net.connect(harness.sipPort, '127.0.0.1');
      await Promise.all([
        new Promise((r) => good.once('connect', r)),
        new Promise((r) => bad.once('connect', r)),
      ]);
      const badClosed = new Promise((r) => bad.once('close', r));
      bad.on('error', () => undefined);
      bad.write(rawRequest('OPTIONS', 5060).replace('Content-Length: 0', 'Content-Length: 999999'));
      await badClosed;
      const truncated = net.connect(harness.sipPort, '127.0.0.1');
      truncated.on('error', () => undefined);
      await new Promise((r) => truncated.once('connect', r));
      const badBefore = harness.server.stats().badInput;
      truncated.end(rawRequest('OPTIONS', 5060).slice(0, 60));
      await eventually(
        () => harness.server.stats().badInput > badBefore,
        'the truncated message to be counted',
      );
      let goodReply = '';
      good.on('data', (d) => (goodReply += d.toString()));
      const { port } = good.address() as net.AddressInfo;
      good.write(rawRequest('OPTIONS', port).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
      await eventually(() => goodReply.startsWith('SIP/2.0 200'), 'the healthy TCP connection is answered');
      good.destroy();
      truncated.destroy();
    });

    it('refuses a wrong control secret and survives a control client speaking nonsense', async () => {
      const Srf = (await import('drachtio-srf')).default;
      const intruder = new Srf();
      const error = await new Promise<Error | null>((resolve) => {
        intruder.once('connect', (err: Error | null) => resolve(err));
        intruder.on('error', () => undefined);
        intruder.connect({ ...harness.server.controlAddress, secret: SECRET + 'x' });
      });
      assert.match(String(error), /failed to authenticate/);
      intruder.disconnect();

      const errorsBefore = harness.server.stats().controlProtocolErrors;
      const junk = net.connect(harness.server.controlAddress.port, '127.0.0.1');
      junk.on('error', () => undefined);
      const junkClosed = new Promise((r) => junk.once('close', r));
      junk.write('hello there, this is not the drachtio protocol\r\n');
      await junkClosed;
      assert.ok(harness.server.stats().controlProtocolErrors > errorsBefore, 'protocol errors are counted');

      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      const replies: string[] = [];
      socket.on('message', (m) => replies.push(m.toString()));
      socket.send(rawRequest('OPTIONS', socket.address().port), harness.sipPort, '127.0.0.1');
      await eventually(() => replies.some((r) => r.startsWith('SIP/2.0 200')), 'the app still answers');
      socket.close();
    });
  });
});

describe('embedded SIP server without an app', () => {
  it('answers 503 when no app wants the request', async () => {
    const harness = await startEmbedded();
    try {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
      const replies: string[] = [];
      socket.on('message', (m) => replies.push(m.toString()));
      socket.send(rawRequest('OPTIONS', socket.address().port), harness.sipPort, '127.0.0.1');
      await eventually(() => replies.length > 0, 'a reply');
      assert.match(replies[0], /^SIP\/2\.0 503/);
      socket.close();
    } finally {
      await harness.stop();
    }
  });
});
