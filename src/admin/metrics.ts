import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { B2bua, CallRecord, RefusedCall } from '../b2bua';
import type { NgSample, RtpenginePool } from '../nat/rtpengine-pool';
import { flowTransport, type Registrar } from '../registrar';
import type { RunningSipServer } from '../sip-host';
import type { MessageCounts } from '../sipserver';

export interface MetricSources {
  sipServer: RunningSipServer | null;
  registrar: Registrar;
  b2bua: B2bua;
  ngPool: RtpenginePool | null;
}

/**
 * Prometheus metrics. Counters kept elsewhere (the SIP server's message tally, the B2BUA's call
 * counters, rtpengine's totals) are read when scraped, so the per-message path pays nothing here.
 */
export class PinholeMetrics {
  readonly registry = new Registry();
  private readonly callsEnded: Counter<'outcome' | 'reason'>;
  private readonly callsRefused: Counter<'status'>;
  private readonly callsChallenged: Counter;
  private readonly setupSeconds: Histogram;
  private readonly mediaPackets: Counter<'leg'>;
  private readonly ngSeconds: Histogram<'command'>;
  private readonly ngFailures: Counter<'command' | 'outcome'>;

  constructor(private readonly sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pinhole_' });
    this.sipMessageCounters(registers);
    this.sipStateGauges(registers);
    this.eventLoopGauge(registers);
    this.registrationGauge(registers);
    this.callGauges(registers);
    this.rtpengineGauges(registers);
    this.callsEnded = new Counter({
      name: 'pinhole_calls_ended_total',
      help: 'Calls that were routed and ended, by outcome (answered/failed) and end reason',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.callsChallenged = new Counter({
      name: 'pinhole_calls_challenged_total',
      help: 'INVITEs answered 407 for credentials (the first half of an authenticated call)',
      registers,
    });
    this.callsRefused = new Counter({
      name: 'pinhole_calls_refused_total',
      help: 'INVITEs refused before routing (auth, no route, draining), by status',
      labelNames: ['status'],
      registers,
    });
    this.setupSeconds = new Histogram({
      name: 'pinhole_call_setup_seconds',
      help: 'From the INVITE reaching Pinhole to the caller getting 200',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.mediaPackets = new Counter({
      name: 'pinhole_call_media_packets_total',
      help: 'RTP packets rtpengine received from each leg of ended calls',
      labelNames: ['leg'],
      registers,
    });
    this.ngSeconds = new Histogram({
      name: 'pinhole_rtpengine_command_seconds',
      help: 'ng command round trip to rtpengine',
      labelNames: ['command'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.ngFailures = new Counter({
      name: 'pinhole_rtpengine_command_failures_total',
      help: 'ng commands refused by rtpengine or unanswered',
      labelNames: ['command', 'outcome'],
      registers,
    });
  }

  observeNg(sample: NgSample): void {
    if (sample.outcome === 'ok') this.ngSeconds.observe({ command: sample.command }, sample.seconds);
    else this.ngFailures.inc({ command: sample.command, outcome: sample.outcome });
  }

  observeRecord(record: CallRecord): void {
    const answered = record.finalStatus === 200;
    this.callsEnded.inc({ outcome: answered ? 'answered' : 'failed', reason: record.endReason });
    if (record.setupMs !== null) this.setupSeconds.observe(record.setupMs / 1000);
    for (const leg of record.legs) {
      const packets = (leg.media ?? []).reduce((sum, stream) => sum + stream.packets, 0);
      if (packets > 0) this.mediaPackets.inc({ leg: leg.side }, packets);
    }
  }

  observeChallenged(): void {
    this.callsChallenged.inc();
  }

  observeRefused(refused: RefusedCall): void {
    this.callsRefused.inc({ status: String(refused.status) });
  }

  async text(): Promise<string> {
    // From a worker thread the SIP counters would otherwise be up to half a second old.
    await this.sources.sipServer?.refreshStats();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private sipMessageCounters(registers: Registry[]): void {
    const { sources } = this;
    const tallied = (name: string, help: string, read: (stats: MessageCountsPair) => Map<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: name.includes('responses') ? ['method', 'code'] : ['method'],
        registers,
        collect() {
          this.reset();
          const stats = sources.sipServer?.stats();
          if (!stats) return;
          for (const [key, count] of read(stats)) {
            const [method, code] = key.split(' ');
            this.inc(code === undefined ? { method } : { method, code }, count);
          }
        },
      });
    tallied(
      'pinhole_sip_requests_received_total',
      'SIP requests received, retransmissions included',
      (s) => s.received.requests,
    );
    tallied('pinhole_sip_responses_received_total', 'SIP responses received', (s) => s.received.responses);
    tallied(
      'pinhole_sip_requests_sent_total',
      'SIP requests sent, retransmissions included',
      (s) => s.sent.requests,
    );
    tallied(
      'pinhole_sip_responses_sent_total',
      'SIP responses sent, retransmissions included',
      (s) => s.sent.responses,
    );
    new Counter({
      name: 'pinhole_sip_malformed_total',
      help: 'Messages that could not be parsed',
      registers,
      collect() {
        this.reset();
        this.inc(sources.sipServer?.stats().badInput ?? 0);
      },
    });
    new Counter({
      name: 'pinhole_sip_guarded_total',
      help: 'Messages dropped or rejected by flood protection',
      registers,
      collect() {
        this.reset();
        this.inc(sources.sipServer?.stats().guarded ?? 0);
      },
    });
  }

  private sipStateGauges(registers: Registry[]): void {
    const { sources } = this;
    new Gauge({
      name: 'pinhole_sip_transactions',
      help: 'SIP transactions open',
      labelNames: ['side'],
      registers,
      collect() {
        const stats = sources.sipServer?.stats();
        this.set({ side: 'server' }, stats?.transactions.server ?? 0);
        this.set({ side: 'client' }, stats?.transactions.client ?? 0);
      },
    });
    new Gauge({
      name: 'pinhole_sip_dialogs',
      help: 'SIP dialogs open',
      registers,
      collect() {
        this.set(sources.sipServer?.stats().dialogs ?? 0);
      },
    });
    new Gauge({
      name: 'pinhole_sip_connections',
      help: 'TCP, TLS and WebSocket connections open',
      registers,
      collect() {
        this.set(sources.sipServer?.stats().transport.connectionsOpen ?? 0);
      },
    });
  }

  /** Busy share of each thread since the previous scrape: the first sign that a core is full. */
  private eventLoopGauge(registers: Registry[]): void {
    const { sources } = this;
    let app = performance.eventLoopUtilization();
    let sip = sources.sipServer?.eventLoopUtilization() ?? null;
    new Gauge({
      name: 'pinhole_event_loop_utilization',
      help: 'Share of time each thread was busy since the previous scrape (app: calls and registrations; sip: the SIP server)',
      labelNames: ['thread'],
      registers,
      collect() {
        const appNow = performance.eventLoopUtilization();
        this.set({ thread: 'app' }, performance.eventLoopUtilization(appNow, app).utilization);
        app = appNow;
        const since = sip && sources.sipServer?.eventLoopUtilization(sip);
        if (since) this.set({ thread: 'sip' }, since.utilization);
        sip = sources.sipServer?.eventLoopUtilization() ?? null;
      },
    });
  }

  private registrationGauge(registers: Registry[]): void {
    const { registrar } = this.sources;
    new Gauge({
      name: 'pinhole_registrations',
      help: 'Registered contacts by transport and NAT verdict',
      labelNames: ['transport', 'natted'],
      registers,
      async collect() {
        this.reset();
        for (const binding of await registrar.bindings())
          this.inc({ transport: flowTransport(binding.flow), natted: String(binding.nat.natted) });
      },
    });
  }

  private callGauges(registers: Registry[]): void {
    const { b2bua } = this.sources;
    new Gauge({
      name: 'pinhole_calls_active',
      help: 'Calls being set up or up',
      registers,
      collect() {
        this.set(b2bua.stats().active);
      },
    });
    new Counter({
      name: 'pinhole_calls_started_total',
      help: 'Calls admitted and routed to a target',
      registers,
      collect() {
        this.reset();
        this.inc(b2bua.stats().started);
      },
    });
  }

  private rtpengineGauges(registers: Registry[]): void {
    const pool = this.sources.ngPool;
    if (!pool) return;
    new Gauge({
      name: 'pinhole_rtpengine_up',
      help: '1 when the rtpengine answered its last ping',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const { endpoint, healthy } of pool.health()) this.set({ endpoint }, healthy ? 1 : 0);
      },
    });
    const totals = new RtpengineTotals(pool);
    const fromTotals = (
      name: string,
      help: string,
      pick: (t: EngineTotalsRow) => number,
      kind: 'counter' | 'gauge',
    ) => {
      const collect = async function (this: Counter<'endpoint'> | Gauge<'endpoint'>) {
        this.reset();
        for (const row of await totals.read()) {
          if (this instanceof Gauge) this.set({ endpoint: row.endpoint }, pick(row));
          else this.inc({ endpoint: row.endpoint }, pick(row));
        }
      };
      if (kind === 'gauge') new Gauge({ name, help, labelNames: ['endpoint'], registers, collect });
      else new Counter({ name, help, labelNames: ['endpoint'], registers, collect });
    };
    fromTotals('pinhole_rtpengine_sessions', 'Sessions rtpengine holds', (t) => t.sessions, 'gauge');
    fromTotals(
      'pinhole_rtpengine_relayed_packets_total',
      'Packets rtpengine relayed since it started',
      (t) => t.relayedPackets,
      'counter',
    );
    fromTotals(
      'pinhole_rtpengine_relayed_packet_errors_total',
      'Packets rtpengine could not relay',
      (t) => t.relayedPacketErrors,
      'counter',
    );
    fromTotals(
      'pinhole_rtpengine_relayed_bytes_total',
      'Bytes rtpengine relayed since it started',
      (t) => t.relayedBytes,
      'counter',
    );
    fromTotals(
      'pinhole_rtpengine_oneway_streams_total',
      'Ended streams that carried media one way only',
      (t) => t.oneWayStreams,
      'counter',
    );
    fromTotals(
      'pinhole_rtpengine_zeroway_streams_total',
      'Ended streams that carried no media at all',
      (t) => t.zeroWayStreams,
      'counter',
    );
  }
}

type MessageCountsPair = { received: MessageCounts; sent: MessageCounts };
type EngineTotalsRow = Awaited<ReturnType<RtpenginePool['statistics']>>[number];

/** rtpengine's totals, read at most once a second however many metrics (and scrapers) ask. */
class RtpengineTotals {
  private cached: { at: number; rows: Promise<EngineTotalsRow[]> } | null = null;

  constructor(private readonly pool: RtpenginePool) {}

  read(): Promise<EngineTotalsRow[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > 1000)
      this.cached = { at: now, rows: this.pool.statistics().catch(() => []) };
    return this.cached.rows;
  }
}
