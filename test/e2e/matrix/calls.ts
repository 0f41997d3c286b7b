import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HomeName, Lab } from '../lab/topology';
import type { LabAgent } from './agent-control';
import { DOMAIN, EDGE_SIP_PORT, EDGE_WS_PORT, PBX_SIP_PORT } from './pinhole-in-ns';
import type { Flow } from './report';
import type { MeterCounts } from './rtp-meter';
import type { MediaAddress } from './sdp';
import type { LinkTransport } from './sip-link';
import { startSippInNs, type NsSippRun } from './sipp-in-ns';

/**
 * Call set-ups of the matrix: a phone calls the PBX, the PBX calls a phone, a phone calls a phone.
 * Each returns a LiveCall whose two endpoints know where their SDP said to send audio; `measure`
 * then runs real RTP both ways and `finish` hangs up from the phone.
 */
export interface MatrixEnv {
  lab: Lab;
  dir: string;
  phones: Record<HomeName, LabAgent>;
  pbx: LabAgent;
  passwords: Record<string, string>;
}

export interface Endpoint {
  agent: LabAgent;
  meter: string;
  /** Where this endpoint's SDP peer told it to send audio. */
  target: MediaAddress;
  /** Stamped into the packets this endpoint sends. */
  tag: string;
}

export interface LiveCall {
  phone: Endpoint;
  farEnd: Endpoint;
  /** Hangs up from the phone; returns what went wrong (empty when BYE and the far end were fine). */
  finish(): Promise<string[]>;
  /** Releases everything the call set up, whatever state it is in. */
  release(): Promise<void>;
}

export interface PhoneSpec {
  home: HomeName;
  transport: LinkTransport;
  user: string;
}

export const PBX_NUMBER = '2000';
const ANSWER_TIMEOUT_MS = 15000;
const SIPP_TIMEOUT_MS = 60000;
const MEDIA_FILE_TIMEOUT_MS = 10000;
const SETTLE_MS = 300;

let serial = 0;
function nextName(prefix: string): string {
  serial += 1;
  return `${prefix}${serial}`;
}

/** Every phone gets its own UDP port, so no cell meets a binding another cell left behind. */
function nextSipPort(): number {
  return 5100 + serial;
}

async function startPhone(env: MatrixEnv, spec: PhoneSpec, name: string): Promise<LabAgent> {
  const agent = env.phones[spec.home];
  const home = env.lab.homes[spec.home];
  await agent.startPhone(name, {
    transport: spec.transport,
    localAddress: home.phone.address,
    localPort: spec.transport === 'udp' ? nextSipPort() : 0,
    server: { host: env.lab.edge.external, port: spec.transport === 'ws' ? EDGE_WS_PORT : EDGE_SIP_PORT },
    credentials: { user: spec.user, password: env.passwords[spec.user] },
    domain: DOMAIN,
  });
  return agent;
}

export async function registerPhone(env: MatrixEnv, spec: PhoneSpec, name: string): Promise<LabAgent> {
  const agent = await startPhone(env, spec, name);
  const status = await agent.register(name);
  if (status !== 200)
    throw new Error(`REGISTER of ${spec.user} (${spec.home}, ${spec.transport}) got ${status}`);
  return agent;
}

async function readMediaFile(file: string): Promise<MediaAddress> {
  const deadline = Date.now() + MEDIA_FILE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (fs.existsSync(file)) {
      const [host, port] = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
      return { host, port: Number(port) };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the PBX never saw an SDP (${file} not written)`);
}

/** Stops the far-end SIPp and reports how it ended. */
async function sippOutcome(sipp: NsSippRun): Promise<string[]> {
  const code = await Promise.race([sipp.done, new Promise<'late'>((r) => setTimeout(() => r('late'), 5000))]);
  if (code === 0) return [];
  await sipp.stop();
  return [
    `PBX sipp ${code === 'late' ? 'still running after BYE' : `exited ${code}`} (see ${sipp.messagesFile})`,
  ];
}

/** Hangs up `callId` from the phone and collects what went wrong. */
async function hangUp(agent: LabAgent, phone: string, callId: string): Promise<string[]> {
  try {
    const status = await agent.hangup(phone, callId);
    return status === 200 ? [] : [`BYE from the phone got ${status}`];
  } catch (error) {
    return [`BYE from the phone failed: ${(error as Error).message}`];
  }
}

export async function phoneCallsPbx(env: MatrixEnv, spec: PhoneSpec): Promise<LiveCall> {
  const name = nextName(`${spec.home}-${spec.transport}-to-pbx-`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const release = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const agent = await startPhone(env, spec, name);
    cleanups.push(() => agent.closePhone(name));
    const phonePort = await agent.openMeter(name, env.lab.homes[spec.home].phone.address);
    cleanups.push(() => agent.closeMeter(name));
    const pbxPort = await env.pbx.openMeter(name, env.lab.pbx.address);
    cleanups.push(() => env.pbx.closeMeter(name));
    const mediaFile = path.join(env.dir, `${name}.pbx-media`);
    const sipp = startSippInNs(env.lab, {
      ns: env.lab.pbx.ns,
      scenario: 'pbx-answer-report.xml',
      localAddress: env.lab.pbx.address,
      localPort: PBX_SIP_PORT,
      keys: { sdp_ip: env.lab.pbx.address, rtp_port: String(pbxPort), media_file: mediaFile },
      calls: 1,
      timeoutMs: SIPP_TIMEOUT_MS,
      traceDir: env.dir,
      name: `${name}.pbx`,
    });
    cleanups.push(() => sipp.stop());
    await sipp.ready;
    const call = await agent.call(name, PBX_NUMBER, phonePort);
    if (call.status !== 200 || !call.media)
      throw new Error(`${spec.user} calling the PBX got ${call.status} (PBX trace: ${sipp.messagesFile})`);
    const pbxTarget = await readMediaFile(mediaFile);
    return {
      phone: { agent, meter: name, target: call.media, tag: `${name}:phone` },
      farEnd: { agent: env.pbx, meter: name, target: pbxTarget, tag: `${name}:pbx` },
      finish: async () => [...(await hangUp(agent, name, call.callId)), ...(await sippOutcome(sipp))],
      release,
    };
  } catch (error) {
    await release();
    throw error;
  }
}

export async function pbxCallsPhone(
  env: MatrixEnv,
  spec: PhoneSpec,
  /** Runs after the phone registered, before the PBX calls (the keepalive cell waits here). */
  beforeCall: (agent: LabAgent, phone: string) => Promise<void> = async () => undefined,
): Promise<LiveCall> {
  const name = nextName(`pbx-to-${spec.home}-${spec.transport}-`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const release = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const agent = await startPhone(env, spec, name);
    cleanups.push(() => agent.closePhone(name));
    const status = await agent.register(name);
    if (status !== 200) throw new Error(`REGISTER of ${spec.user} got ${status}`);
    const phonePort = await agent.openMeter(name, env.lab.homes[spec.home].phone.address);
    cleanups.push(() => agent.closeMeter(name));
    const pbxPort = await env.pbx.openMeter(name, env.lab.pbx.address);
    cleanups.push(() => env.pbx.closeMeter(name));
    await beforeCall(agent, name);
    const answered = agent.answerNext(name, phonePort, ANSWER_TIMEOUT_MS);
    answered.catch(() => undefined);
    const mediaFile = path.join(env.dir, `${name}.pbx-media`);
    const sipp = startSippInNs(env.lab, {
      ns: env.lab.pbx.ns,
      scenario: 'pbx-call-report.xml',
      localAddress: env.lab.pbx.address,
      localPort: PBX_SIP_PORT,
      remote: `${env.lab.edge.internal}:${EDGE_SIP_PORT}`,
      service: spec.user,
      keys: { sdp_ip: env.lab.pbx.address, rtp_port: String(pbxPort), media_file: mediaFile },
      calls: 1,
      timeoutMs: SIPP_TIMEOUT_MS,
      traceDir: env.dir,
      name: `${name}.pbx`,
    });
    cleanups.push(() => sipp.stop());
    const incoming = await answered.catch((error: Error) => {
      throw new Error(`${error.message} (PBX trace: ${sipp.messagesFile})`);
    });
    if (!incoming.media) throw new Error(`the INVITE that reached ${spec.user} had no usable SDP`);
    const pbxTarget = await readMediaFile(mediaFile);
    return {
      phone: { agent, meter: name, target: incoming.media, tag: `${name}:phone` },
      farEnd: { agent: env.pbx, meter: name, target: pbxTarget, tag: `${name}:pbx` },
      finish: async () => [...(await hangUp(agent, name, incoming.callId)), ...(await sippOutcome(sipp))],
      release,
    };
  } catch (error) {
    await release();
    throw error;
  }
}

export async function phoneCallsPhone(
  env: MatrixEnv,
  caller: PhoneSpec,
  callee: PhoneSpec,
): Promise<LiveCall> {
  const name = nextName(`${caller.home}-to-${callee.home}-`);
  const calleeName = `${name}-callee`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const release = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const calleeAgent = await registerPhone(env, callee, calleeName);
    cleanups.push(() => calleeAgent.closePhone(calleeName));
    const callerAgent = await startPhone(env, caller, name);
    cleanups.push(() => callerAgent.closePhone(name));
    const callerPort = await callerAgent.openMeter(name, env.lab.homes[caller.home].phone.address);
    cleanups.push(() => callerAgent.closeMeter(name));
    const calleePort = await calleeAgent.openMeter(calleeName, env.lab.homes[callee.home].phone.address);
    cleanups.push(() => calleeAgent.closeMeter(calleeName));
    const answered = calleeAgent.answerNext(calleeName, calleePort, ANSWER_TIMEOUT_MS);
    answered.catch(() => undefined);
    const call = await callerAgent.call(name, callee.user, callerPort);
    if (call.status !== 200 || !call.media)
      throw new Error(`${caller.user} calling ${callee.user} got ${call.status}`);
    const incoming = await answered;
    if (!incoming.media) throw new Error(`the INVITE that reached ${callee.user} had no usable SDP`);
    return {
      phone: { agent: callerAgent, meter: name, target: call.media, tag: `${name}:caller` },
      farEnd: { agent: calleeAgent, meter: calleeName, target: incoming.media, tag: `${name}:callee` },
      finish: async () => {
        const problems = await hangUp(callerAgent, name, call.callId);
        await calleeAgent
          .waitForBye(calleeName, incoming.callId, 5000)
          .catch((error: Error) => problems.push(`callee: ${error.message}`));
        return problems;
      },
      release,
    };
  } catch (error) {
    await release();
    throw error;
  }
}

export interface Measurement {
  phone: Flow;
  farEnd: Flow;
  /** Send errors at either end, e.g. "PBX: 100 packets not sent (send ENETUNREACH ...)". */
  note: string;
}

/** Both endpoints send `count` packets 20 ms apart at once; returns what each sent and received. */
export async function measure(call: LiveCall, count: number): Promise<Measurement> {
  const { phone, farEnd } = call;
  await Promise.all([
    phone.agent.expect(phone.meter, farEnd.tag),
    farEnd.agent.expect(farEnd.meter, phone.tag),
  ]);
  await Promise.all([phone.agent.resetMeter(phone.meter), farEnd.agent.resetMeter(farEnd.meter)]);
  await Promise.all([
    phone.agent.stream(phone.meter, phone.target, count, 20, phone.tag),
    farEnd.agent.stream(farEnd.meter, farEnd.target, count, 20, farEnd.tag),
  ]);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const [phoneCounts, farCounts] = await Promise.all([
    phone.agent.counts(phone.meter),
    farEnd.agent.counts(farEnd.meter),
  ]);
  const sendErrors = (who: string, counts: MeterCounts) =>
    counts.sendErrors > 0 ? [`${who}: ${counts.sendErrors} packets not sent (${counts.lastSendError})`] : [];
  return {
    phone: { sent: phoneCounts.sent, received: phoneCounts.received },
    farEnd: { sent: farCounts.sent, received: farCounts.received },
    note: [...sendErrors('phone', phoneCounts), ...sendErrors('far end', farCounts)].join('; '),
  };
}
