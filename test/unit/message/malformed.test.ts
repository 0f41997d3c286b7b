import assert from 'node:assert/strict';
import {
  parseMessage,
  SipParseError,
  StreamFramer,
  type AnySipMessage,
} from '../../../src/sipserver/message';
import { wellFormedMessages } from './corpus-files';

/** mulberry32: a small seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes that matter to the grammar, so that mutations hit the parser's decisions. */
const INTERESTING = Buffer.from('\r\n \t:;,<>"\\@[]?=%/0\x00\xff');

function mutate(seed: Buffer, rnd: () => number): Buffer {
  const pick = (n: number) => Math.floor(rnd() * n);
  let out = Buffer.from(seed);
  const edits = 1 + pick(4);
  for (let e = 0; e < edits; e++) {
    const at = pick(out.length + 1);
    switch (pick(7)) {
      case 0: // overwrite a byte with any value
        if (out.length > 0) out[Math.min(at, out.length - 1)] = pick(256);
        break;
      case 1: // overwrite with a grammar byte
        if (out.length > 0) out[Math.min(at, out.length - 1)] = INTERESTING[pick(INTERESTING.length)];
        break;
      case 2: // insert grammar bytes
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.from([INTERESTING[pick(INTERESTING.length)]]),
          out.subarray(at),
        ]);
        break;
      case 3: // delete a run
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + pick(20))]);
        break;
      case 4: // truncate
        out = out.subarray(0, at);
        break;
      case 5: // duplicate a run elsewhere (repeated headers, doubled separators)
        out = Buffer.concat([
          out.subarray(0, at),
          out.subarray(pick(out.length), pick(out.length) + 1 + pick(40)),
          out.subarray(at),
        ]);
        break;
      default: // change a digit run into a huge or negative number
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.from(rnd() < 0.5 ? '-1' : '99999999999999999999'),
          out.subarray(at),
        ]);
    }
  }
  return out;
}

/** Reads what later layers read, so a parsed message must never throw on its getters. */
function touch(m: AnySipMessage): void {
  void m.callId;
  void m.cseq;
  void m.from;
  void m.to;
  void m.vias;
  void m.topVia;
  void m.fromTag;
  void m.toTag;
  parseMessage(m.toBuffer());
}

/** Runs the parser: refusals must be SipParseErrors, acceptances must be fully readable. */
function outcome(buffer: Buffer): 'parsed' | 'refused' {
  try {
    touch(parseMessage(buffer));
    return 'parsed';
  } catch (err) {
    if (err instanceof SipParseError) {
      assert.equal(typeof err.status, 'number');
      assert.ok(err.message.length > 0);
      return 'refused';
    }
    throw new Error(`non-SipParseError for ${JSON.stringify(buffer.toString('latin1'))}: ${String(err)}`);
  }
}

describe('malformed input never escapes as anything but SipParseError', () => {
  // The RFC 4475 §3.3.2/3 messages are well-formed but earn a 416 from the parser.
  const seeds = wellFormedMessages().filter((seed) => outcome(seed) === 'parsed');

  it('has over 200 well-formed corpus seeds', () => assert.ok(seeds.length > 200, String(seeds.length)));

  it('2000 random mutations of corpus messages', () => {
    const rnd = random(0x5eed);
    const counts = { parsed: 0, refused: 0 };
    for (let i = 0; i < 2000; i++) counts[outcome(mutate(seeds[Math.floor(rnd() * seeds.length)], rnd))]++;
    // Both outcomes must occur, or the mutations are not reaching the parser's decisions.
    assert.ok(counts.parsed > 100 && counts.refused > 100, JSON.stringify(counts));
  });

  it('random garbage buffers', () => {
    const rnd = random(42);
    for (let i = 0; i < 500; i++) {
      const garbage = Buffer.alloc(Math.floor(rnd() * 600));
      for (let j = 0; j < garbage.length; j++) garbage[j] = Math.floor(rnd() * 256);
      assert.equal(outcome(garbage), 'refused');
      const framed = Buffer.concat([
        Buffer.from('INVITE sip:a@b SIP/2.0\r\n'),
        garbage,
        Buffer.from('\r\n\r\n'),
      ]);
      assert.equal(outcome(framed), 'refused');
    }
  });

  it('every truncation of a message is refused (or parsed, when only body bytes are lost)', () => {
    for (const seed of seeds.slice(0, 12)) {
      for (let cut = 0; cut < seed.length; cut++) outcome(seed.subarray(0, cut));
    }
  });

  it('NUL bytes anywhere in the header section', () => {
    const seed = seeds[0];
    const headEnd = seed.indexOf('\r\n\r\n');
    let refused = 0;
    for (let at = 0; at < headEnd; at++) {
      const withNul = Buffer.concat([seed.subarray(0, at), Buffer.from([0]), seed.subarray(at)]);
      if (outcome(withNul) === 'refused') refused++;
    }
    assert.ok(refused > headEnd / 2, `${refused} of ${headEnd} refused`);
  });

  it('the stream framer survives the same mutations', () => {
    const rnd = random(7);
    for (let i = 0; i < 300; i++) {
      const framer = new StreamFramer(4096);
      const data = mutate(seeds[Math.floor(rnd() * seeds.length)], rnd);
      for (let at = 0; at < data.length;) {
        const size = 1 + Math.floor(rnd() * 64);
        for (const event of framer.push(data.subarray(at, at + size)))
          if (event.kind === 'message') outcome(event.data);
        at += size;
      }
    }
  });
});
