/**
 * Mutation fuzzing of SIP over the network: valid messages (RFC 3665 flows and the well-formed
 * RFC 4475 / 5118 messages) bent by a seeded PRNG, sent over UDP and TCP. The same seed gives
 * the same messages, so a failure is replayed with FUZZ_SEED=<seed>.
 */
import { wellFormedMessages } from '../../unit/message/corpus-files';
import { Blaster } from './wire-client';

/** mulberry32: small, fast, and good enough to pick mutations. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FUZZ_SEED from the environment, else a fresh one; printed by the caller for replay. */
export function fuzzSeed(): number {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${fromEnv}`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32);
}

type Random = () => number;

const CRLF = '\r\n';

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function int(random: Random, max: number): number {
  return Math.floor(random() * max);
}

/** Header section lines (without the start line) and the body, split on the first blank line. */
function split(text: string): { start: string; headers: string[]; body: string } {
  const end = text.indexOf(CRLF + CRLF);
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 4);
  const [start, ...headers] = head.split(CRLF);
  return { start, headers, body };
}

function join(parts: { start: string; headers: string[]; body: string }): string {
  return [parts.start, ...parts.headers].join(CRLF) + CRLF + CRLF + parts.body;
}

const HUGE_VALUES = [
  () => '9'.repeat(40),
  () => '4294967296',
  () => '-1',
  () => 'x'.repeat(70000),
  () => ';a'.repeat(5000),
  () => '<'.repeat(3000),
  () => '"'.repeat(1001),
  () => ','.repeat(4000),
  () => '%'.repeat(999),
  () => '[' + ':'.repeat(500) + ']',
];

const HEADERS_TO_ABUSE = ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Length', 'Max-Forwards', 'Expires', 'Route', 'Record-Route', 'Authorization', 'Proxy-Authorization', 'Content-Type', 'Require']; // prettier-ignore

/** Each mutation takes the message text (latin1, so bytes map 1:1) and returns the new text. */
const MUTATIONS: Record<string, (text: string, random: Random) => string> = {
  flipBytes(text, random) {
    const chars = text.split('');
    const flips = 1 + int(random, 8);
    for (let i = 0; i < flips; i++) chars[int(random, chars.length)] = String.fromCharCode(int(random, 256));
    return chars.join('');
  },
  truncate(text, random) {
    return text.slice(0, int(random, text.length));
  },
  duplicateHeader(text, random) {
    const parts = split(text);
    if (parts.headers.length === 0) return text;
    const line = pick(random, parts.headers);
    const copies = 1 + int(random, random() < 0.1 ? 500 : 3);
    parts.headers.splice(int(random, parts.headers.length), 0, ...Array<string>(copies).fill(line));
    return join(parts);
  },
  deleteHeader(text, random) {
    const parts = split(text);
    if (parts.headers.length === 0) return text;
    parts.headers.splice(int(random, parts.headers.length), 1);
    return join(parts);
  },
  hugeValue(text, random) {
    const parts = split(text);
    const name = pick(random, HEADERS_TO_ABUSE);
    const value = pick(random, HUGE_VALUES)();
    const index = parts.headers.findIndex((h) => h.toLowerCase().startsWith(name.toLowerCase() + ':'));
    if (index >= 0 && random() < 0.7) parts.headers[index] = `${name}: ${value}`;
    else parts.headers.push(`${name}: ${value}`);
    return join(parts);
  },
  crlfGames(text, random) {
    switch (int(random, 6)) {
      case 0:
        return text.replace(/\r\n/g, '\n');
      case 1:
        return text.replace(/\r\n/g, '\r');
      case 2:
        return CRLF.repeat(1 + int(random, 4)) + text;
      case 3: {
        const at = int(random, text.length);
        return text.slice(0, at) + CRLF + CRLF + text.slice(at);
      }
      case 4:
        return text.replace(/\r\n\r\n/, CRLF);
      default: {
        // A folded continuation line where none belongs.
        const at = text.indexOf(CRLF, int(random, text.length));
        return at < 0 ? text : text.slice(0, at) + CRLF + ' \t folded' + text.slice(at);
      }
    }
  },
  startLine(text, random) {
    const parts = split(text);
    const tokens = parts.start.split(' ');
    const variants = [
      () => tokens.slice(0, int(random, tokens.length)).join(' '),
      () => tokens.join('  '),
      () => `${tokens[0]} ${'sip:' + 'a'.repeat(int(random, 5000))}@x SIP/2.0`,
      () =>
        parts.start.replace('SIP/2.0', pick(random, ['SIP/2.1', 'SIP/20', 'sip/2.0', 'SIP/', 'HTTP/1.1'])),
      () =>
        parts.start.replace(
          /^SIP\/2\.0 \d{3}/,
          `SIP/2.0 ${pick(random, ['000', '99', '1000', '-200', '699'])}`,
        ),
    ];
    parts.start = pick(random, variants)();
    return join(parts);
  },
  contentLength(text, random) {
    const parts = split(text);
    parts.headers = parts.headers.filter((h) => !/^(content-length|l)\s*:/i.test(h));
    const value = pick(random, ['0', '1', '99999', '-5', '', ' 12', '0x10', String(parts.body.length + 1)]);
    if (random() < 0.9) parts.headers.push(`Content-Length: ${value}`);
    return join(parts);
  },
  spliceMessages(text, random) {
    const other = pick(random, seedMessages()).toString('latin1');
    return text.slice(0, int(random, text.length)) + other.slice(int(random, other.length));
  },
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

let seedsCache: Buffer[] | undefined;
function seedMessages(): Buffer[] {
  seedsCache ??= wellFormedMessages();
  return seedsCache;
}

let uniqueCounter = 0;

/**
 * Gives the message fresh Via branch and Call-ID values, so mutants are new transactions rather
 * than retransmissions of one another (which the server would rightly absorb).
 */
function freshIdentity(text: string, tag: string): string {
  return text
    .replace(/branch=([^;,\s]+)/i, (_, branch: string) => `branch=${branch}-f${tag}`)
    .replace(
      /^(Call-ID|i)([ \t]*:[ \t]*)(\S+)/im,
      (_, name: string, sep: string, id: string) => `${name}${sep}f${tag}-${id}`,
    );
}

export interface Mutant {
  data: Buffer;
  mutations: string[];
}

/** One mutant: a random seed message, 1-3 random mutations. */
export function mutant(random: Random): Mutant {
  let text = freshIdentity(pick(random, seedMessages()).toString('latin1'), String(++uniqueCounter));
  const mutations: string[] = [];
  const count = 1 + int(random, 3);
  for (let i = 0; i < count; i++) {
    const name = pick(random, MUTATION_NAMES);
    mutations.push(name);
    text = MUTATIONS[name](text, random);
  }
  return { data: Buffer.from(text, 'latin1'), mutations };
}

export interface FuzzOptions {
  host: string;
  port: number;
  seed: number;
  count: number;
  /** Stop early after this long. */
  maxMs: number;
  /** TCP connections open at once. */
  tcpConcurrency?: number;
  /** Spread the mutants at this rate instead of sending them as fast as possible. */
  perSecond?: number;
}

export interface FuzzReport {
  seed: number;
  sent: { udp: number; tcp: number };
  byMutation: Record<string, number>;
  repliesSeen: number;
  elapsedMs: number;
}

/**
 * Sends `count` mutants, alternating UDP and TCP (one connection per TCP mutant, closed shortly
 * after), paced so the loopback buffers do not simply drop the UDP half.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const random = createRandom(options.seed);
  const blaster = await Blaster.open(options.host, options.port);
  const started = Date.now();
  const report: FuzzReport = {
    seed: options.seed,
    sent: { udp: 0, tcp: 0 },
    byMutation: {},
    repliesSeen: 0,
    elapsedMs: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const concurrency = options.tcpConcurrency ?? 16;
  try {
    for (let i = 0; i < options.count && Date.now() - started < options.maxMs; i++) {
      const m = mutant(random);
      for (const name of m.mutations) report.byMutation[name] = (report.byMutation[name] ?? 0) + 1;
      if (options.perSecond) {
        const due = started + (i * 1000) / options.perSecond - Date.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
      }
      if (i % 2 === 0) {
        await blaster.sendUdp(m.data, i);
        report.sent.udp++;
        // A short breather every few datagrams keeps the socket buffers from overflowing.
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      } else {
        const sending = blaster.sendTcp(m.data, 20).finally(() => inFlight.delete(sending));
        inFlight.add(sending);
        report.sent.tcp++;
        if (inFlight.size >= concurrency) await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    // Let the last replies arrive before the sockets go.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    report.repliesSeen = blaster.repliesSeen;
    await blaster.close();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}
