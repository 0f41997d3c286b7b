/**
 * The admin API and /metrics of the whole product, read during real SIPp traffic: the numbers
 * must match what the test sent (registrations, calls, refusals), and the operator's actions
 * (ending a call, removing a binding, changing the log level) must take effect.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { delay, eventually } from '../support/embedded';
import { INTERNAL_IP, PHONE_IP, startTestPinhole, type TestPinhole } from '../support/pinhole';
import { startAnsweringPbx, type AnsweringPbx } from '../support/answering-pbx';
import { httpRequest } from '../support/http';
import { allocatePort } from '../support/ports';
import { stopAll } from '../support/processes';
import { RtpEndpoint } from '../support/rtp-endpoint';
import { runSipp } from '../support/sipp';
import { registerSippPhone, startPhoneCall } from '../support/sipp-phone';

const TOKEN = 'admin-test-token-0123456789';
const PHONE_SDP_IP = '192.168.77.10';
const ANSWERED_CALLS = 4;
const REFUSED_CALLS = 2;

interface Reply {
  status: number;
  type: string;
  body: string;
}

function request(
  url: string,
  options: { method?: string; token?: string | null; body?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== null) headers.Authorization = `Bearer ${options.token ?? TOKEN}`;
  if (options.body) headers['Content-Type'] = 'application/json';
  return httpRequest(url, { method: options.method, headers, body: options.body }).then((reply) => ({
    status: reply.status,
    type: String(reply.headers['content-type'] ?? ''),
    body: reply.body,
  }));
}

async function json<T>(url: string, options: Parameters<typeof request>[1] = {}): Promise<T> {
  const reply = await request(url, options);
  assert.equal(reply.status, 200, `${url}: ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

/** The value of one sample line of Prometheus text, e.g. `pinhole_calls_active` or `x{a="b"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface RegistrationPage {
  total: number;
  items: { aor: string; contact: string; source: string; transport: string; natted: boolean; nat: string }[];
}

interface CallsPage {
  items: {
    id: string;
    state: string;
    from: string;
    caller: { nat: string | null };
    media: { callerToCallee: { packets: number }; calleeToCaller: { packets: number } } | null;
  }[];
}

describe('Admin API and Prometheus metrics during real traffic', function () {
  this.timeout(120000);
  let pinhole: TestPinhole;
  let pbxPort: number;
  let pbx: AnsweringPbx;
  let pbxRtp: RtpEndpoint;
  let base: string;

  before(async () => {
    pbxPort = await allocatePort();
    pinhole = await startTestPinhole({ pbxPort, admin: { token: TOKEN } });
    base = pinhole.adminUrl!;
    pbx = await startAnsweringPbx(pbxPort);
    pbxRtp = pbx.rtp;
  });

  after(async () => {
    await pbx?.stop();
    await pinhole?.stop();
    await stopAll();
  });

  const registerPhone = async (user: string, localPort: number, lanIp: string) =>
    registerSippPhone({ user, password: `secret${user}`, localPort, lanIp }, pinhole.sipPort);

  it('health is public, everything else needs the bearer token', async () => {
    const health = await request(`${base}/healthz`, { token: null });
    assert.equal(health.status, 200, health.body);
    assert.deepEqual(JSON.parse(health.body), {
      status: 'up',
      checks: { sipServer: true, app: true, rtpengine: true, store: true },
    });
    assert.equal((await request(`${base}/`, { token: null })).status, 200);
    for (const path of ['/api/summary', '/metrics', '/api/events'])
      assert.equal((await request(`${base}${path}`, { token: null })).status, 401, path);
    assert.equal((await request(`${base}/api/summary`, { token: 'wrong-token-wrong-token' })).status, 401);
    assert.equal((await request(`${base}/api/nothing`)).status, 404);
    assert.equal((await request(`${base}/api/registrations?offset=-1`)).status, 400);
    assert.equal((await request(`${base}/api/registrations?natted=maybe`)).status, 400);
    assert.equal((await request(`${base}/api/calls/%E0%A4%A`, { method: 'DELETE' })).status, 400);
  });

  it('registrations: the API and /metrics count exactly the bindings made, with their NAT verdict', async () => {
    await registerPhone('1001', await allocatePort(), PHONE_SDP_IP);
    await registerPhone('1002', await allocatePort(), '192.168.77.20');
    await registerPhone('1002', await allocatePort(), '192.168.77.21');
    const page = await json<RegistrationPage>(`${base}/api/registrations`);
    assert.equal(page.total, 3);
    assert.deepEqual(
      page.items.map((r) => [r.aor, r.transport, r.natted, r.nat]),
      [
        ['sip:1001@pinhole.test', 'udp', true, 'nat'],
        ['sip:1002@pinhole.test', 'udp', true, 'nat'],
        ['sip:1002@pinhole.test', 'udp', true, 'nat'],
      ],
    );
    assert.ok(page.items.every((r) => r.source.startsWith(`${PHONE_IP}:`)));
    const filtered = await json<RegistrationPage>(`${base}/api/registrations?q=192.168.77.2&limit=1`);
    assert.equal(filtered.total, 2);
    assert.equal(filtered.items.length, 1);
    assert.equal((await json<RegistrationPage>(`${base}/api/registrations?natted=false`)).total, 0);

    const metrics = (await request(`${base}/metrics`)).body;
    assert.equal(sample(metrics, 'pinhole_registrations{transport="udp",natted="true"}'), 3);
    // Each phone: REGISTER, 401, REGISTER with credentials, 200.
    assert.ok((sample(metrics, 'pinhole_sip_requests_received_total{method="REGISTER"}') ?? 0) >= 6, metrics);
    assert.ok((sample(metrics, 'pinhole_sip_responses_sent_total{method="REGISTER",code="401"}') ?? 0) >= 3);
    assert.ok((sample(metrics, 'pinhole_sip_responses_sent_total{method="REGISTER",code="200"}') ?? 0) >= 3);
    assert.ok((sample(metrics, 'pinhole_process_resident_memory_bytes') ?? 0) > 0);
    // Both threads report how busy they were since the previous scrape: a share of 1.
    for (const thread of ['app', 'sip']) {
      const busy = sample(metrics, `pinhole_event_loop_utilization{thread="${thread}"}`);
      assert.ok(busy !== undefined && busy > 0 && busy <= 1, `${thread} thread: ${busy}`);
    }

    const summary = await json<{ registrations: { bindings: number; aors: number; natted: number } }>(
      `${base}/api/summary`,
    );
    assert.deepEqual(summary.registrations, { bindings: 3, aors: 2, byTransport: { udp: 3 }, natted: 3 });

    const contact = filtered.items[0].contact;
    const removed = await request(
      `${base}/api/registrations?aor=${encodeURIComponent('sip:1002@pinhole.test')}&contact=${encodeURIComponent(contact)}`,
      { method: 'DELETE' },
    );
    assert.equal(removed.status, 200, removed.body);
    assert.deepEqual(JSON.parse(removed.body), { removed: 1 });
    assert.equal((await json<RegistrationPage>(`${base}/api/registrations`)).total, 2);
    assert.equal(
      (
        await request(`${base}/api/registrations?aor=${encodeURIComponent('sip:9999@pinhole.test')}`, {
          method: 'DELETE',
        })
      ).status,
      404,
    );
  });

  it('calls: answered, refused and setup-time numbers match the calls made', async () => {
    const before = (await request(`${base}/metrics`)).body;
    const startedBefore = sample(before, 'pinhole_calls_started_total') ?? 0;
    const phoneRtp = await RtpEndpoint.open({ address: PHONE_IP });
    try {
      for (let i = 0; i < ANSWERED_CALLS; i++) {
        const result = await runSipp({
          scenario: 'b2b-phone-call.xml',
          remote: `${PHONE_IP}:${pinhole.sipPort}`,
          localPort: 0,
          service: '2000',
          keys: { caller: '1001', sdp_ip: PHONE_SDP_IP, rtp_port: String(phoneRtp.port) },
          extraArgs: ['-au', '1001', '-ap', 'secret1001'],
          pauseMs: 100,
        });
        assert.equal(result.successfulCalls, 1, result.messages + result.errors);
      }
    } finally {
      await phoneRtp.close();
    }
    for (let i = 0; i < REFUSED_CALLS; i++) {
      const result = await runSipp({
        scenario: 'phone-call-auth-403.xml',
        remote: `${PHONE_IP}:${pinhole.sipPort}`,
        localPort: 0,
        service: '2000',
        keys: { caller: '1001' },
        extraArgs: ['-au', '1001', '-ap', 'wrong-password'],
      });
      assert.equal(result.successfulCalls, 1, result.messages + result.errors);
    }
    await eventually(() => pinhole.records.length >= ANSWERED_CALLS, 'the call records');
    const metrics = (await request(`${base}/metrics`)).body;
    assert.equal(sample(metrics, 'pinhole_calls_started_total'), startedBefore + ANSWERED_CALLS);
    assert.equal(
      sample(metrics, 'pinhole_calls_ended_total{outcome="answered",reason="caller-bye"}'),
      ANSWERED_CALLS,
    );
    assert.equal(sample(metrics, 'pinhole_calls_refused_total{status="403"}'), REFUSED_CALLS);
    assert.equal(sample(metrics, 'pinhole_call_setup_seconds_count'), ANSWERED_CALLS);
    assert.equal(sample(metrics, 'pinhole_calls_active'), 0);
    // offer + answer per call at least, each timed.
    assert.ok(
      (sample(metrics, 'pinhole_rtpengine_command_seconds_count{command="offer"}') ?? 0) >= ANSWERED_CALLS,
    );
    assert.equal(sample(metrics, `pinhole_rtpengine_up{endpoint="127.0.0.1:${pinhole.ngPort}"}`), 1);
    assert.ok(
      (sample(metrics, `pinhole_rtpengine_relayed_packets_total{endpoint="127.0.0.1:${pinhole.ngPort}"}`) ??
        -1) >= 0,
    );
    const invites = sample(metrics, 'pinhole_sip_requests_received_total{method="INVITE"}') ?? 0;
    assert.ok(invites >= 2 * (ANSWERED_CALLS + REFUSED_CALLS), `INVITEs received: ${invites}`);

    const records = await json<{ items: { finalStatus: number; from: string }[] }>(
      `${base}/api/records?limit=100`,
    );
    assert.equal(records.items.length, ANSWERED_CALLS);
    assert.ok(records.items.every((r) => r.finalStatus === 200 && r.from === '1001'));
    const history = await json<{ bucketSeconds: number; buckets: { calls: number; failed: number }[] }>(
      `${base}/api/history`,
    );
    assert.equal(history.bucketSeconds, 60);
    assert.equal(history.buckets.length, 60);
    const totals = history.buckets.reduce(
      (t, b) => ({ calls: t.calls + b.calls, failed: t.failed + b.failed }),
      {
        calls: 0,
        failed: 0,
      },
    );
    assert.deepEqual(totals, { calls: ANSWERED_CALLS + REFUSED_CALLS, failed: REFUSED_CALLS });
  });

  it('a live call shows rising packet counters and is ended by DELETE /api/calls/<id>', async () => {
    const phoneRtp = await RtpEndpoint.open({ address: PHONE_IP });
    try {
      const calling = startPhoneCall({
        sipPort: pinhole.sipPort,
        rtpPort: phoneRtp.port,
        sdpIp: PHONE_SDP_IP,
        timeoutMs: 60000,
      });
      await eventually(
        () => pinhole.running.b2bua.activeCalls().some((c) => c.state === 'established'),
        'a call up',
      );
      const established = pinhole.running.b2bua.activeCalls()[0];
      const { legs } = await pinhole.running.ngPool!.query(established.callId);
      const phonePort = legs.find((l) => l.tag === established.callerTag)!.streams[0].localPort!;
      const pbxPortMedia = legs.find((l) => l.tag !== established.callerTag)!.streams[0].localPort!;
      const sending = Promise.all([
        phoneRtp.send({ host: PHONE_IP, port: phonePort }, 150),
        pbxRtp.send({ host: INTERNAL_IP, port: pbxPortMedia }, 150),
      ]);
      const readCall = async () => (await json<CallsPage>(`${base}/api/calls`)).items[0];
      await delay(600);
      let call = await readCall();
      assert.equal(call.state, 'established');
      assert.equal(call.from, '1001');
      const first = call.media!.callerToCallee.packets;
      await delay(800);
      call = await readCall();
      assert.ok(
        call.media!.callerToCallee.packets > first,
        `packets rose: ${first} -> ${call.media!.callerToCallee.packets}`,
      );
      assert.ok(call.media!.calleeToCaller.packets > 0);
      assert.equal((await json<CallsPage>(`${base}/api/calls?q=1001&state=established`)).items.length, 1);
      assert.equal((await json<CallsPage>(`${base}/api/calls?state=setup`)).items.length, 0);
      assert.ok(
        call.caller.nat === 'cone' || call.caller.nat === 'symmetric',
        `caller NAT: ${call.caller.nat}`,
      );
      await sending;

      const ended = await request(`${base}/api/calls/${encodeURIComponent(call.id)}`, { method: 'DELETE' });
      assert.equal(ended.status, 202, ended.body);
      const phoneSide = await calling;
      assert.equal(phoneSide.successfulCalls, 1, phoneSide.messages + phoneSide.errors);
      await eventually(() => pinhole.leftovers().calls === 0, 'the call gone');
      assert.equal(pinhole.records.at(-1)?.endReason, 'hangup');
      assert.equal(
        (await request(`${base}/api/calls/${encodeURIComponent(call.id)}`, { method: 'DELETE' })).status,
        404,
      );
    } finally {
      await phoneRtp.close();
    }
  });

  it('the log level changes at run time; the event stream sends snapshots', async () => {
    const bad = await request(`${base}/api/log-level`, { method: 'PUT', body: '{"level":"loud"}' });
    assert.equal(bad.status, 400);
    const changed = await request(`${base}/api/log-level`, { method: 'PUT', body: '{"level":"warn"}' });
    assert.equal(changed.status, 200, changed.body);
    assert.equal(
      pinhole.running.srf && (await json<{ level: string }>(`${base}/api/log-level`)).level,
      'warn',
    );

    const snapshot = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${base}/api/events?token=${TOKEN}`, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (text.includes('\n\n')) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', reject);
    });
    assert.match(snapshot, /^event: snapshot\ndata: \{"summary":/);
    const data = JSON.parse(snapshot.split('\n')[1].slice('data: '.length)) as { calls: unknown[] };
    assert.deepEqual(data.calls, []);
  });
});
