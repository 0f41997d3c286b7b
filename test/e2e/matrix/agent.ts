/**
 * The lab endpoint program: run inside a namespace (`ip netns exec NS node agent.js`), it holds
 * softphones and RTP meters and is driven by JSON lines on stdin, answering one JSON line per
 * command on stdout: {id, ok: true, result} or {id, ok: false, error}. Commands run concurrently
 * (a phone can wait for an INVITE while the test starts the PBX that sends it). It exits when
 * stdin closes. `LabAgent` in agent-control.ts is the test's side.
 */
import * as readline from 'node:readline';
import { RtpMeter } from './rtp-meter';
import { Softphone, type PhoneOptions } from './softphone';

export type AgentCommand =
  | { op: 'rtp-open'; meter: string; address: string }
  | { op: 'rtp-expect'; meter: string; tag: string }
  | {
      op: 'rtp-stream';
      meter: string;
      host: string;
      port: number;
      count: number;
      intervalMs: number;
      tag: string;
    }
  | { op: 'rtp-counts'; meter: string }
  | { op: 'rtp-reset'; meter: string }
  | { op: 'rtp-close'; meter: string }
  | ({ op: 'phone-start'; phone: string } & PhoneOptions)
  | { op: 'register'; phone: string; expires: number }
  | { op: 'call'; phone: string; target: string; rtpPort: number }
  | { op: 'answer-next'; phone: string; rtpPort: number; timeoutMs: number }
  | { op: 'hangup'; phone: string; callId: string }
  | { op: 'wait-bye'; phone: string; callId: string; timeoutMs: number }
  | { op: 'phone-info'; phone: string }
  | { op: 'phone-close'; phone: string };

const meters = new Map<string, RtpMeter>();
const phones = new Map<string, Softphone>();

function named<T>(table: Map<string, T>, name: string, kind: string): T {
  const found = table.get(name);
  if (!found) throw new Error(`no ${kind} '${name}'`);
  return found;
}

async function run(command: AgentCommand): Promise<unknown> {
  switch (command.op) {
    case 'rtp-open': {
      if (meters.has(command.meter)) throw new Error(`meter '${command.meter}' exists`);
      const meter = await RtpMeter.open(command.address);
      meters.set(command.meter, meter);
      return { port: meter.port };
    }
    case 'rtp-expect':
      return named(meters, command.meter, 'meter').expect(command.tag);
    case 'rtp-stream':
      return named(meters, command.meter, 'meter').stream(command);
    case 'rtp-counts':
      return named(meters, command.meter, 'meter').counts();
    case 'rtp-reset':
      return named(meters, command.meter, 'meter').reset();
    case 'rtp-close':
      named(meters, command.meter, 'meter').close();
      meters.delete(command.meter);
      return null;
    case 'phone-start': {
      if (phones.has(command.phone)) throw new Error(`phone '${command.phone}' exists`);
      const phone = await Softphone.start(command);
      phones.set(command.phone, phone);
      return null;
    }
    case 'register':
      return { status: await named(phones, command.phone, 'phone').register(command.expires) };
    case 'call':
      return named(phones, command.phone, 'phone').call(command.target, command.rtpPort);
    case 'answer-next':
      return named(phones, command.phone, 'phone').answerNext(command.rtpPort, command.timeoutMs);
    case 'hangup':
      return { status: await named(phones, command.phone, 'phone').hangup(command.callId) };
    case 'wait-bye':
      return named(phones, command.phone, 'phone').waitForBye(command.callId, command.timeoutMs);
    case 'phone-info': {
      const phone = named(phones, command.phone, 'phone');
      return { optionsAnswered: phone.optionsAnswered, problems: phone.problems };
    }
    case 'phone-close':
      named(phones, command.phone, 'phone').close();
      phones.delete(command.phone);
      return null;
  }
}

function handle(line: string): void {
  if (line.trim() === '') return;
  const { id, ...command } = JSON.parse(line) as AgentCommand & { id: number };
  run(command as AgentCommand).then(
    (result) => process.stdout.write(JSON.stringify({ id, ok: true, result: result ?? null }) + '\n'),
    (error: Error) => process.stdout.write(JSON.stringify({ id, ok: false, error: error.message }) + '\n'),
  );
}

if (require.main === module) {
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', handle);
  input.on('close', () => process.exit(0));
}
