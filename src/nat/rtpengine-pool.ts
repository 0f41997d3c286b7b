import { Client, type NgResponse } from 'rtpengine-client';
import { parseHostPort, type HostPort } from '../config/host-port';
import type { NgOptions } from './media-profiles';

export type NgEndpoint = HostPort;

/** An ng request failed: nobody answered in time, or rtpengine refused it. */
export class NgError extends Error {
  override readonly name = 'NgError';
}

export interface PoolOptions {
  timeoutMs: number;
  pingIntervalMs: number;
  /** Sees every ng round trip, for metrics. */
  observe?: (sample: NgSample) => void;
}

export type NgCommand = 'ping' | 'offer' | 'answer' | 'delete' | 'query' | 'statistics';

export interface NgSample {
  command: NgCommand;
  endpoint: string;
  seconds: number;
  outcome: 'ok' | 'error' | 'timeout';
}

/** rtpengine's own totals since it started (ng `statistics`). */
export interface EngineTotals {
  endpoint: string;
  sessions: number;
  relayedPackets: number;
  relayedPacketErrors: number;
  relayedBytes: number;
  oneWayStreams: number;
  zeroWayStreams: number;
}

export interface SdpResult {
  sdp: string;
  /** host:port of the rtpengine that handled it. */
  endpoint: string;
  roundTripMs: number;
}

export interface StreamStats {
  localPort?: number;
  /** Where rtpengine learned the peer sends from (host:port). */
  endpoint?: string;
  /** What the peer's SDP announced (host:port). */
  advertised?: string;
  confirmed: boolean;
  packets: number;
  bytes: number;
  errors: number;
}

export interface LegStats {
  tag: string;
  streams: StreamStats[];
}

export function parseNgAddress(text: string): NgEndpoint {
  const endpoint = parseHostPort(text);
  if (!endpoint || endpoint.port === 0) throw new Error(`invalid ng address ${text}, expected HOST:PORT`);
  return endpoint;
}

interface Member {
  name: string;
  destination: NgEndpoint;
  client: Client;
  healthy: boolean;
}

type TimedOut = { timedOut: true };

/**
 * ng endpoints of one or more rtpengines. A call sticks to the rtpengine that took its first offer
 * (the media state lives there); only new calls fail over when an rtpengine stops answering.
 */
export class RtpenginePool {
  private readonly members: Member[];
  private readonly calls = new Map<string, Member>();
  private pinger?: NodeJS.Timeout;

  constructor(
    endpoints: readonly (string | NgEndpoint)[],
    private readonly options: PoolOptions,
    private readonly onClientError: (err: Error) => void = () => undefined,
  ) {
    if (endpoints.length === 0) throw new Error('an rtpengine pool needs at least one ng endpoint');
    this.members = endpoints.map((endpoint) => {
      const destination = typeof endpoint === 'string' ? parseNgAddress(endpoint) : endpoint;
      const client = new Client({ timeout: options.timeoutMs });
      client.socket.once('listening', () => widenReceiveBuffer(client));
      // Late replies after a timeout are emitted as 'error'; unhandled they would kill the process.
      client.on('error', (err: Error) => this.onClientError(err));
      return { name: `${destination.host}:${destination.port}`, destination, client, healthy: true };
    });
  }

  /** Pings every endpoint now and then every pingIntervalMs. */
  start(): Promise<void> {
    this.pinger ??= setInterval(() => void this.checkHealth(), this.options.pingIntervalMs).unref();
    return this.checkHealth();
  }

  async checkHealth(): Promise<void> {
    await Promise.all(
      this.members.map(async (member) => {
        const reply = await this.send(member, 'ping', {});
        member.healthy = !('timedOut' in reply) && reply.result === 'pong';
      }),
    );
  }

  health(): { endpoint: string; healthy: boolean }[] {
    return this.members.map((m) => ({ endpoint: m.name, healthy: m.healthy }));
  }

  /** Calls this pool holds media for (offered and not yet deleted). */
  get activeCalls(): number {
    return this.calls.size;
  }

  /** The rtpengine a call is pinned to, if it has one. */
  endpointFor(callId: string): string | undefined {
    return this.calls.get(callId)?.name;
  }

  offer(options: NgOptions & { sdp: string }): Promise<SdpResult> {
    return this.sdpCommand('offer', options);
  }

  answer(options: NgOptions & { sdp: string }): Promise<SdpResult> {
    return this.sdpCommand('answer', options);
  }

  /** Ends the call on its rtpengine; a call this pool does not know is already gone. */
  async delete(callId: string): Promise<void> {
    const member = this.calls.get(callId);
    if (!member) return;
    this.calls.delete(callId);
    const reply = await this.send(member, 'delete', { 'call-id': callId });
    if ('timedOut' in reply)
      throw new NgError(`rtpengine ${member.name} did not answer delete for call ${callId}`);
    // rtpengine already dropped it (timeout, restart): the outcome we wanted.
    if (reply.result === 'error' && /unknown call/i.test(String(reply['error-reason']))) return;
    this.check(reply, 'delete', member, callId);
  }

  async query(callId: string): Promise<{ endpoint: string; legs: LegStats[]; raw: NgResponse }> {
    const member = this.calls.get(callId);
    if (!member) throw new NgError(`call ${callId} has no rtpengine`);
    const reply = await this.send(member, 'query', { 'call-id': callId });
    if ('timedOut' in reply)
      throw new NgError(`rtpengine ${member.name} did not answer query for call ${callId}`);
    this.check(reply, 'query', member, callId);
    return { endpoint: member.name, legs: legStats(reply), raw: reply };
  }

  /** Totals of every healthy rtpengine; one that does not answer is left out. */
  async statistics(): Promise<EngineTotals[]> {
    const replies = await Promise.all(
      this.members.map(async (member) => ({ member, reply: await this.send(member, 'statistics', {}) })),
    );
    const totals: EngineTotals[] = [];
    for (const { member, reply } of replies) {
      if ('timedOut' in reply || reply.result !== 'ok') continue;
      const statistics = asDict(reply.statistics);
      const current = asDict(statistics.currentstatistics);
      const total = asDict(statistics.totalstatistics);
      totals.push({
        endpoint: member.name,
        sessions: Number(current.sessionsown ?? 0),
        relayedPackets: Number(total.relayedpackets ?? 0),
        relayedPacketErrors: Number(total.relayedpacketerrors ?? 0),
        relayedBytes: Number(total.relayedbytes ?? 0),
        oneWayStreams: Number(total.onewaystreams ?? 0),
        zeroWayStreams: Number(total.zerowaystreams ?? 0),
      });
    }
    return totals;
  }

  close(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
    for (const member of this.members) member.client.close();
  }

  private async sdpCommand(
    command: 'offer' | 'answer',
    options: NgOptions & { sdp: string },
  ): Promise<SdpResult> {
    const callId = options['call-id'];
    const pinned = this.calls.get(callId);
    const candidates = pinned ? [pinned] : this.newCallOrder(callId);
    for (const member of candidates) {
      const started = process.hrtime.bigint();
      const reply = await this.send(member, command, options);
      if ('timedOut' in reply) {
        member.healthy = false;
        continue;
      }
      member.healthy = true;
      this.check(reply, command, member, callId);
      if (typeof reply.sdp !== 'string')
        throw new NgError(`rtpengine ${member.name} returned no SDP for ${command}`);
      this.calls.set(callId, member);
      return {
        sdp: reply.sdp,
        endpoint: member.name,
        roundTripMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
    }
    const tried = candidates.map((m) => m.name).join(', ');
    throw new NgError(
      `no rtpengine answered ${command} for call ${callId} within ${this.options.timeoutMs} ms (tried ${tried})`,
    );
  }

  /** Healthy endpoints first, starting at a Call-ID hash so calls spread over the pool. */
  private newCallOrder(callId: string): Member[] {
    let hash = 0;
    for (let i = 0; i < callId.length; i++) hash = (hash * 31 + callId.charCodeAt(i)) >>> 0;
    const start = hash % this.members.length;
    const rotated = [...this.members.slice(start), ...this.members.slice(0, start)];
    return [...rotated.filter((m) => m.healthy), ...rotated.filter((m) => !m.healthy)];
  }

  private async send(member: Member, command: NgCommand, options: object) {
    const started = process.hrtime.bigint();
    const observe = (outcome: NgSample['outcome']) =>
      this.options.observe?.({
        command,
        endpoint: member.name,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        outcome,
      });
    try {
      const reply = await member.client[command](member.destination, options);
      observe(reply.result === 'ok' || reply.result === 'pong' ? 'ok' : 'error');
      return reply;
    } catch (err) {
      if (err instanceof Error && /timeout/i.test(err.message)) {
        observe('timeout');
        return { timedOut: true } as TimedOut;
      }
      observe('error');
      throw new NgError(
        `rtpengine ${member.name} ${command} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private check(reply: NgResponse, command: string, member: Member, callId: string): void {
    if (reply.result === 'ok' || reply.result === 'pong') return;
    const reason = reply['error-reason'] ?? reply.result ?? 'no result';
    throw new NgError(`rtpengine ${member.name} refused ${command} for call ${callId}: ${String(reason)}`);
  }
}

type Dict = Record<string, unknown>;
const asDict = (value: unknown): Dict => (value && typeof value === 'object' ? (value as Dict) : {});
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function hostPort(value: unknown): string | undefined {
  const endpoint = asDict(value);
  if (endpoint.address === undefined) return undefined;
  return `${String(endpoint.address)}:${String(endpoint.port)}`;
}

/** Per-leg stream counters from a `query` reply (tags.<tag>.medias[].streams[]). */
export function legStats(reply: NgResponse): LegStats[] {
  return Object.entries(asDict(reply.tags)).map(([tag, leg]) => ({
    tag,
    streams: asList(asDict(leg).medias).flatMap((media) =>
      asList(asDict(media).streams).map((value) => {
        const stream = asDict(value);
        const stats = asDict(stream.stats);
        const localPort = stream['local port'];
        return {
          localPort: localPort === undefined ? undefined : Number(localPort),
          endpoint: hostPort(stream.endpoint),
          advertised: hostPort(stream['advertised endpoint']),
          confirmed: asList(stream.flags).map(String).includes('confirmed'),
          packets: Number(stats.packets ?? 0),
          bytes: Number(stats.bytes ?? 0),
          errors: Number(stats.errors ?? 0),
        };
      }),
    ),
  }));
}

/**
 * Offer and answer replies carry whole SDPs; when Pinhole's thread is busy for a moment (a GC
 * pause under load) the kernel's default 208 KB queue overflowed and calls failed with "no
 * rtpengine answered" although rtpengine had. The kernel caps this at net.core.rmem_max.
 */
const NG_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

function widenReceiveBuffer(client: Client): void {
  try {
    client.socket.setRecvBufferSize(NG_RECEIVE_BUFFER_BYTES);
  } catch {
    // Only a socket already closed refuses; the default size still works.
  }
}
