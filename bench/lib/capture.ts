import * as fs from 'node:fs';
import { waitFor, type ProcessSet, type Tracked } from './processes';

/** One SIP message seen on loopback. */
export interface CapturedSip {
  timeNs: bigint;
  srcPort: number;
  dstPort: number;
  firstLine: string;
  callId: string;
  cseq: string;
}

/** tcpdump on `lo` for UDP to or from the given ports, written to `file`; stop with SIGINT. */
export async function startCapture(
  procs: ProcessSet,
  file: string,
  ports: number[],
  logFile: string,
): Promise<Tracked> {
  fs.rmSync(logFile, { force: true });
  const filter = `udp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  const tcpdump = procs.spawn(
    'tcpdump',
    'tcpdump',
    ['-i', 'lo', '-n', '-s', '0', '-B', '16384', '--time-stamp-precision=nano', '-U', '-w', file, filter],
    { logFile },
  );
  await waitFor(
    () => !tcpdump.isRunning() || fs.readFileSync(logFile, 'utf8').includes('listening on'),
    10_000,
    'tcpdump to start',
  );
  if (!tcpdump.isRunning()) throw new Error(`tcpdump failed: ${fs.readFileSync(logFile, 'utf8')}`);
  return tcpdump;
}

const ETHERNET = 1;
const LINUX_SLL = 113;

/** The SIP messages of a pcap file (IPv4/UDP on loopback), in capture order. */
export function readSipCapture(file: string): CapturedSip[] {
  const data = fs.readFileSync(file);
  if (data.length < 24) return [];
  const magic = data.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap file`);
  const linkType = data.readUInt32LE(20);
  const linkHeader = linkType === ETHERNET ? 14 : linkType === LINUX_SLL ? 16 : -1;
  if (linkHeader < 0) throw new Error(`${file}: unsupported link type ${linkType}`);
  const messages: CapturedSip[] = [];
  let offset = 24;
  while (offset + 16 <= data.length) {
    const seconds = BigInt(data.readUInt32LE(offset));
    const fraction = BigInt(data.readUInt32LE(offset + 4));
    const length = data.readUInt32LE(offset + 8);
    const packet = data.subarray(offset + 16, offset + 16 + length);
    offset += 16 + length;
    const ip = packet.subarray(linkHeader);
    if (ip.length < 28 || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const udp = ip.subarray((ip[0] & 0x0f) * 4);
    const payload = udp.subarray(8).toString('latin1');
    const headerEnd = payload.indexOf('\r\n\r\n');
    const head = headerEnd >= 0 ? payload.slice(0, headerEnd) : payload;
    messages.push({
      timeNs: seconds * 1_000_000_000n + (nano ? fraction : fraction * 1000n),
      srcPort: udp.readUInt16BE(0),
      dstPort: udp.readUInt16BE(2),
      firstLine: head.slice(0, head.indexOf('\r\n')),
      callId: headerValue(head, /^(?:call-id|i)\s*:/im),
      cseq: headerValue(head, /^cseq\s*:/im),
    });
  }
  return messages;
}

function headerValue(head: string, name: RegExp): string {
  const match = name.exec(head);
  if (!match) return '';
  const start = match.index + match[0].length;
  const end = head.indexOf('\r\n', start);
  return head.slice(start, end < 0 ? undefined : end).trim();
}

/**
 * Time spent inside the edge per call: the first copy of each message entering the edge paired,
 * in order, with the first copy of the matching message leaving it. Calls are placed one at a time
 * (far apart compared with the edge's delay), so order pairs them even when a B2BUA changes the
 * Call-ID. Retransmissions are ignored.
 */
export function transitTimesMs(
  messages: CapturedSip[],
  entering: (m: CapturedSip) => boolean,
  leaving: (m: CapturedSip) => boolean,
): number[] {
  const firstCopies = (keep: (m: CapturedSip) => boolean) => {
    const seen = new Set<string>();
    return messages.filter((m) => {
      if (!keep(m)) return false;
      const key = `${m.callId} ${m.cseq} ${m.firstLine}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  };
  const ins = firstCopies(entering);
  const outs = firstCopies(leaving);
  const times: number[] = [];
  let next = 0;
  for (const inbound of ins) {
    while (next < outs.length && outs[next].timeNs < inbound.timeNs) next++;
    if (next >= outs.length) break;
    times.push(Number(outs[next].timeNs - inbound.timeNs) / 1e6);
    next++;
  }
  return times;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}
