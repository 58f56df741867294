/**
 * The snappy block decoder: round trips through two encoders, agreement with the reference decoder
 * (snappyjs) on hand-built streams using every element form, a strictness table (truncated,
 * corrupt and oversized input must fail as BadPayloadError), and fuzzing.
 *
 * The streams are built here by hand, and checked against a naive byte-by-byte model decoder, so
 * the test does not share any logic with the decoder under test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { compress, uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { BadPayloadError } from '../../src/errors.js';
import { snappyDecode } from '../../src/wire/snappy-decode.js';
import { compressBody, decompressBody } from '../../src/wire/snappy.js';

const FIXTURE_DIR = new URL('../fixtures/prometheus-2.42-agent/', import.meta.url);
const FIXTURES: readonly { name: string; body: Buffer }[] = readdirSync(FIXTURE_DIR)
  .filter((f) => f.endsWith('.bin'))
  .sort()
  .map((name) => ({ name, body: readFileSync(new URL(name, FIXTURE_DIR)) }));

const BIG = 1 << 26;

// ---- a hand-written snappy stream builder ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function leBytes(n: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(n % 256);
    n = Math.floor(n / 256);
  }
  return out;
}

type Bytes = readonly number[] | string;
const toBytes = (b: Bytes): number[] => (typeof b === 'string' ? [...Buffer.from(b, 'latin1')] : [...b]);

/** A literal; `extra` forces the number of length bytes after the tag (0: length in the tag). */
function lit(bytes: Bytes, extra?: 0 | 1 | 2 | 3 | 4): number[] {
  const data = toBytes(bytes);
  const n = data.length - 1;
  const e = extra ?? (n < 60 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4);
  if (e === 0) return [n << 2, ...data];
  return [(59 + e) << 2, ...leBytes(n, e), ...data];
}
/** Copy with a 1-byte offset: len 4..11, offset < 2048. */
const copy1 = (len: number, off: number): number[] => [((off >> 8) << 5) | ((len - 4) << 2) | 1, off & 0xff];
/** Copy with a 2-byte offset: len 1..64, offset < 65536. */
const copy2 = (len: number, off: number): number[] => [((len - 1) << 2) | 2, ...leBytes(off, 2)];
/** Copy with a 4-byte offset: len 1..64. */
const copy4 = (len: number, off: number): number[] => [((len - 1) << 2) | 3, ...leBytes(off, 4)];

function block(declared: number, ...elements: number[][]): Buffer {
  return Buffer.from([...varint(declared), ...elements.flat()]);
}

/**
 * The obvious decoder, one byte at a time; for valid streams only. Also tells whether snappyjs
 * will wrongly refuse the stream: it wants at least 4 bytes after the tag of any literal whose
 * length is not in the tag, so it refuses a valid stream ending in, say, a 1-byte literal with a
 * 1-byte length (a form real encoders do not use for so short a literal, but a valid one).
 */
function modelDecode(stream: Uint8Array): { out: Buffer; snappyjsRefuses: boolean } {
  let snappyjsRefuses = false;
  let pos = 0;
  let length = 0;
  for (let scale = 1; ; scale *= 128) {
    const b = stream[pos++]!;
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
  }
  const out: number[] = [];
  while (pos < stream.length) {
    const tag = stream[pos++]!;
    if ((tag & 3) === 0) {
      let n = tag >> 2;
      if (n >= 60) {
        if (pos + 3 >= stream.length) snappyjsRefuses = true;
        const e = n - 59;
        n = 0;
        for (let i = 0; i < e; i++) n += stream[pos + i]! * 256 ** i;
        pos += e;
      }
      for (let i = 0; i <= n; i++) out.push(stream[pos++]!);
      continue;
    }
    let len: number;
    let off: number;
    if ((tag & 3) === 1) {
      len = ((tag >> 2) & 7) + 4;
      off = ((tag >> 5) << 8) | stream[pos++]!;
    } else {
      const e = (tag & 3) === 2 ? 2 : 4;
      len = (tag >> 2) + 1;
      off = 0;
      for (let i = 0; i < e; i++) off += stream[pos + i]! * 256 ** i;
      pos += e;
    }
    for (let i = 0; i < len; i++) out.push(out[out.length - off]!);
  }
  expect(out.length).toBe(length);
  return { out: Buffer.from(out), snappyjsRefuses };
}

/** Check a decoded stream against the model and against snappyjs (unless it hits the quirk). */
function expectAgreement(stream: Uint8Array, ours: Buffer): void {
  const model = modelDecode(stream);
  expect(ours.equals(model.out)).toBe(true);
  if (model.snappyjsRefuses) expect(() => uncompress(stream)).toThrow();
  else expect(ours.equals(Buffer.from(uncompress(stream)))).toBe(true);
}

/** snappyDecode's answer, which must agree with the model's and with snappyjs'. */
function decodeAgreeing(stream: Buffer): Buffer {
  const ours = snappyDecode(stream, BIG);
  expectAgreement(stream, ours);
  return ours;
}

function refusal(f: () => unknown): BadPayloadError {
  try {
    f();
  } catch (err) {
    if (err instanceof BadPayloadError) return err;
    throw new Error(`threw something other than BadPayloadError: ${String(err)}`);
  }
  throw new Error('accepted');
}

// ---- generators of compressible data ----

/** Text that looks like the labels of a remote-write request: few distinct words, many repeats. */
const labelText = fc
  .array(
    fc.tuple(
      fc.constantFrom('__name__', 'instance', 'job', 'cluster', 'namespace', 'pod', 'container', 'le', 'mode', 'device'),
      fc.constantFrom('node_cpu_seconds_total', 'kubelet', '10.0.3.17:9100', 'prod-eu-1', 'kube-system', 'coredns-7d8f9c-x2b4z', 'idle', '0.5', '+Inf', ''),
      fc.double({ noNaN: true }),
    ),
    { maxLength: 400 },
  )
  .map((labels) => {
    const parts: Buffer[] = [];
    for (const [name, value, sample] of labels) {
      const n = Buffer.from(name);
      const v = Buffer.from(value);
      const s = Buffer.alloc(9);
      s[0] = 0x09;
      s.writeDoubleLE(sample, 1);
      parts.push(Buffer.from([0x0a, n.length + v.length + 4, 0x0a, n.length]), n, Buffer.from([0x12, v.length]), v, s);
    }
    return new Uint8Array(Buffer.concat(parts));
  });

/** A run of one byte, a short pattern repeated, a repeated string or random bytes, concatenated. */
const segment = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 3000 })).map(([b, n]) => Buffer.alloc(n, b)),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 3000 }))
    .map(([p, n]) => Buffer.from(Array.from({ length: n }, (_, i) => p[i % p.length]!))),
  fc.tuple(fc.string({ maxLength: 200 }), fc.integer({ min: 1, max: 30 })).map(([s, n]) => Buffer.from(s.repeat(n))),
  fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b)),
);
const repetitive = fc.array(segment, { maxLength: 12 }).map((parts) => new Uint8Array(Buffer.concat(parts)));

const anyData = fc.oneof(fc.uint8Array({ maxLength: 20_000 }), labelText, repetitive);

describe('snappyDecode: round trips', () => {
  it('decodes what snappyjs compresses, for random and repetitive data', () => {
    fc.assert(
      fc.property(anyData, (data) => {
        const out = snappyDecode(compress(data), data.length);
        expect(out.length).toBe(data.length);
        expect(out.equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("decodes what tributary's compressBody compresses", () => {
    fc.assert(
      fc.property(anyData, (data) => {
        expect(snappyDecode(compressBody(data), data.length).equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the Prometheus-captured fixtures exactly as snappyjs does', () => {
    expect(FIXTURES.length).toBeGreaterThan(0);
    for (const { body } of FIXTURES) decodeAgreeing(body);
  });

  it('reads the input through its byteOffset (a view into a larger buffer)', () => {
    const data = Buffer.from('abcdefgh'.repeat(100) + 'xyz'.repeat(50));
    const stream = compressBody(data);
    const backing = new Uint8Array(stream.length + 11).fill(0xee);
    backing.set(stream, 5);
    expect(snappyDecode(backing.subarray(5, 5 + stream.length), BIG).equals(data)).toBe(true);
  });
});

describe('snappyDecode: every element form, agreeing with snappyjs', () => {
  const text = 'The quick brown fox jumps over the lazy dog. ';
  const long = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff));

  it.each([
    ['an empty block', block(0)],
    ['a literal, length in the tag', block(3, lit('abc'))],
    ['a literal of 60 bytes (the longest with the length in the tag)', block(60, lit('x'.repeat(60)))],
    ['a literal with 1 length byte', block(61, lit('y'.repeat(61)))],
    ['a literal with 1 length byte, short', block(5, lit('hello', 1))],
    ['a literal with 2 length bytes', block(300, lit([...long], 2))],
    ['a literal with 3 length bytes', block(5, lit('three', 3))],
    ['a literal with 4 length bytes', block(4, lit('four', 4))],
    ['a long literal (native copy)', block(70_000, lit(Buffer.alloc(70_000, 0x5a).fill('snappy', 100, 60_000).toString('latin1')))],
    ['copy1', block(text.length + 11, lit(text), copy1(11, text.length))],
    ['copy1 with the high offset bits', block(1500 + 8, lit(Buffer.alloc(1500, 'q').fill('w', 200, 210).toString('latin1')), copy1(8, 1300))],
    ['copy2', block(text.length + 64, lit(text), copy2(40, text.length), copy2(24, 20))],
    ['copy2 of 1 byte', block(4, lit('abc'), copy2(1, 2))],
    ['copy4', block(text.length + 33, lit(text), copy4(33, text.length))],
    ['copy4 far back', block(70_000 + 64, lit('a'.repeat(70_000)), copy4(64, 70_000))],
    ['an overlapping copy, offset 1', block(1 + 64 + 10, lit('z'), copy2(64, 1), copy2(10, 1))],
    ['an overlapping copy, offset 2', block(2 + 50, lit('ab'), copy2(50, 2))],
    ['an overlapping copy, offset 3', block(3 + 11, lit('abc'), copy1(11, 3))],
    ['an overlapping copy, offset 7', block(7 + 64 + 64 + 64 + 5, lit('1234567'), copy2(64, 7), copy2(64, 7), copy2(64, 7), copy1(5, 7))],
    ['a long run of one byte (merged copies)', block(1 + 64 * 20, lit([0]), ...Array.from({ length: 20 }, () => copy2(64, 1)))],
    ['merged copies that end the block', block(300 + 64 * 5, lit([...long]), ...Array.from({ length: 5 }, () => copy2(64, 300)))],
    ['merged copies that turn overlapping', block(100 + 64 * 4, lit([...long.subarray(0, 100)]), ...Array.from({ length: 4 }, () => copy2(64, 100)))],
    ['copies with different offsets back to back', block(text.length + 30, lit(text), copy2(10, 10), copy2(10, 20), copy1(4, 5), copy2(6, 1))],
    ['a copy of 3 ending exactly at the end', block(6, lit('abc'), copy2(3, 3))],
    ['a long copy, then a copy2 whose offset differs in the high byte only', block(300 + 64 + 10, lit([...long]), copy2(64, 257), copy2(10, 1))],
    ['a long copy, then a copy1 whose offset differs in the high bits only', block(300 + 64 + 5 + 3, lit([...long]), copy2(64, 300), copy1(5, 44), lit('end'))],
    ['a long copy, then a copy1 with the same offset', block(300 + 64 + 5 + 3, lit([...long]), copy2(64, 300), copy1(5, 300), lit('end'))],
    ['a long copy4, then copies with the same offset', block(300 + 64 * 3, lit([...long]), copy4(64, 299), copy4(64, 299), copy2(64, 299))],
  ])('%s', (_name, stream) => {
    decodeAgreeing(stream);
  });

  it('decodes random valid element sequences like the model and snappyjs', () => {
    type Op = { kind: 'lit'; bytes: Uint8Array; extra: 0 | 1 | 2 | 3 | 4 } | { kind: 'copy'; form: 1 | 2 | 4; len: number; off: number; rel: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('lit' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }), extra: fc.constantFrom(0, 1, 2, 3, 4) }),
      fc.record({
        kind: fc.constant('copy' as const),
        form: fc.constantFrom(1, 2, 4),
        len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constantFrom(60, 64)),
        // small offsets (overlap), "the same offset as the last copy" (0), or anywhere (rel).
        off: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(-1)),
        rel: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const elements: number[][] = [];
        let produced = 0;
        let lastOff = 1;
        for (const o of ops) {
          if (o.kind === 'lit') {
            const n = o.bytes.length - 1;
            const extra = Math.max(o.extra, n < 60 ? 0 : n < 0x100 ? 1 : 2) as 0 | 1 | 2 | 3 | 4;
            elements.push(lit([...o.bytes], extra));
            produced += o.bytes.length;
            continue;
          }
          if (produced === 0) continue;
          let off = o.off === 0 ? lastOff : o.off > 0 ? o.off : 1 + Math.floor(o.rel * (produced - 1));
          off = Math.min(off, produced);
          lastOff = off;
          if (o.form === 1 && off < 2048) {
            const len = Math.min(11, Math.max(4, o.len));
            elements.push(copy1(len, off));
            produced += len;
          } else {
            elements.push(o.form === 4 ? copy4(o.len, off) : copy2(o.len, off));
            produced += o.len;
          }
        }
        decodeAgreeing(block(produced, ...elements));
      }),
      { numRuns: 500 },
    );
  });
});

describe('snappyDecode: strictness', () => {
  it.each(FIXTURES.map((f) => [f.name, f.body] as const))('refuses %s cut short at every byte', (_name, body) => {
    const full = snappyDecode(body, BIG);
    for (let cut = 0; cut < body.length; cut++) {
      const err = refusal(() => snappyDecode(body.subarray(0, cut), BIG));
      expect(err.reason).toBe('bad_snappy');
    }
    expect(full.length).toBeGreaterThan(0);
  });

  it('refuses, through decompressBody too, a fixture cut short that snappyjs decodes to zero-filled garbage', () => {
    const body = FIXTURES[0]!.body;
    const full = Buffer.from(uncompress(body));
    let tried = 0;
    for (let cut = body.length - 1; cut > body.length - 100; cut--) {
      const truncated = body.subarray(0, cut);
      let garbage: Buffer;
      try {
        garbage = Buffer.from(uncompress(truncated));
      } catch {
        continue; // snappyjs noticed this one
      }
      tried++;
      expect(garbage.length).toBe(full.length);
      expect(garbage.equals(full)).toBe(false);
      expect(refusal(() => decompressBody(truncated, BIG)).reason).toBe('bad_snappy');
    }
    expect(tried).toBeGreaterThan(0);
  });

  const abc = lit('abc');
  it.each([
    ['an empty body', Buffer.alloc(0), /empty body/],
    ['a length header cut short', Buffer.from([0x80, 0x80]), /length header cut short.*input byte 2/],
    ['a length header longer than 5 bytes', Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 5 bytes/],
    ['a length header over 32 bits', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), /more than 32 bits/],
    ['a copy with offset 0', block(5, abc, copy2(2, 0)), /offset 0 \(at input byte 5\)/],
    ['a copy reaching before the start', block(7, abc, copy1(4, 4)), /4 bytes back but only 3.*input byte 5/],
    ['a copy as the first element', block(4, copy1(4, 1)), /only 0 have been produced.*input byte 1/],
    ['a copy4 with a huge offset', block(4, abc, copy4(1, 0xffffffff)), /4294967295 bytes back/],
    ['a literal past the declared length', block(2, abc), /past the declared length of 2.*input byte 1/],
    ['a copy past the declared length', block(5, abc, copy2(3, 3)), /copy of 3 bytes runs past the declared length of 5.*input byte 5/],
    [
      'the second of two long copies past the declared length',
      block(3 + 64 + 10, abc, copy2(64, 3), copy2(64, 3)),
      /copy of 64 bytes runs past the declared length of 77 \(67 produced\) \(at input byte 8\)/,
    ],
    [
      'a copy1 past the declared length after a long copy with its offset',
      block(3 + 64 + 4, abc, copy2(64, 3), copy1(5, 3), lit('x')),
      /copy of 5 bytes runs past the declared length of 71 \(67 produced\) \(at input byte 8\)/,
    ],
    ['a copy2 cut short after a long copy with its offset', block(3 + 64 + 5, abc, copy2(64, 3), [(4 << 2) | 2, 3]), /2-byte-offset copy cut short.*input byte 8/],
    ['fewer bytes than declared', block(10, abc), /after producing 3 of the 10 declared bytes \(at input byte 5\)/],
    ['nothing but a header', block(1), /producing 0 of the 1/],
    ['a literal running past the input', block(3, abc).subarray(0, 4), /literal of 3 bytes runs past the end of the input/],
    ['a literal whose length bytes are cut', Buffer.from([10, 62 << 2, 9]), /literal length \(3 bytes\) cut short/],
    ['a literal claiming 4 GiB', Buffer.from([10, 63 << 2, 0xff, 0xff, 0xff, 0xff, 1]), /literal of 4294967296 bytes/],
    ['a copy1 cut short', Buffer.from([...block(7, abc), 1]), /1-byte-offset copy cut short.*input byte 5/],
    ['a copy2 cut short', Buffer.from([...block(7, abc), 2, 3]), /2-byte-offset copy cut short/],
    ['a copy4 cut short', Buffer.from([...block(7, abc), 3, 3, 0, 0]), /4-byte-offset copy cut short/],
  ])('refuses %s as bad_snappy', (_name, body, message) => {
    const err = refusal(() => snappyDecode(body, BIG));
    expect(err.reason).toBe('bad_snappy');
    expect(err.message).toMatch(/^body is not valid snappy block format: /);
    expect(err.message).toMatch(message);
  });

  it('refuses a declared length over the cap before allocating, naming the setting', () => {
    // 2^32-1 declared: allocating it would fail or take seconds; the refusal must come first.
    const err = refusal(() => snappyDecode(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0]), 1 << 20));
    expect(err.reason).toBe('decoded_too_large');
    expect(err.message).toMatch(/4294967295 decompressed bytes, over the limit of 1048576 \(server.max_decoded_bytes\)/);
    expect(refusal(() => snappyDecode(block(11, lit('a'.repeat(11))), 10)).reason).toBe('decoded_too_large');
    expect(snappyDecode(block(10, lit('a'.repeat(10))), 10).toString()).toBe('a'.repeat(10));
  });

  it('keeps decompressBody messages for the header checks', () => {
    expect(refusal(() => decompressBody(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), BIG)).message).toMatch(/length header is corrupt/);
    const err = refusal(() => decompressBody(block(100, lit('x')), 99));
    expect(err.reason).toBe('decoded_too_large');
    expect(err.message).toBe(
      'snappy header declares 100 decompressed bytes, over the limit of 99 (server.max_decoded_bytes); lower queue_config.max_samples_per_send on the sender',
    );
  });
});

describe('snappyDecode: fuzz', () => {
  /** Either a Buffer of the declared length equal to snappyjs' output, or a BadPayloadError. */
  function checkAnyInput(input: Uint8Array, cap: number): void {
    let out: Buffer;
    try {
      out = snappyDecode(input, cap);
    } catch (err) {
      expect(err).toBeInstanceOf(BadPayloadError);
      return;
    }
    expectAgreement(input, out);
  }

  it('never throws anything but BadPayloadError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (input) => checkAnyInput(input, 1 << 16)),
      { numRuns: 3000 },
    );
  });

  it('never throws anything but BadPayloadError on random bytes after a plausible header', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.uint8Array({ maxLength: 2000 }), (declared, rest) =>
        checkAnyInput(Buffer.from([...varint(declared), ...rest]), 1 << 16),
      ),
      { numRuns: 3000 },
    );
  });

  it('never throws anything but BadPayloadError on bit flips of the fixtures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: FIXTURES.length - 1 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
        (which, flips) => {
          const body = Buffer.from(FIXTURES[which]!.body);
          for (const [where, bit] of flips) {
            const i = Math.floor(where * body.length);
            body[i] = body[i]! ^ (1 << bit);
          }
          checkAnyInput(body, 1 << 20);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
