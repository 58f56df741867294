import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  readUvarint,
  readVarint64,
  skipVarint,
  uvarintSize,
  varint64Size,
  writeUvarint,
  writeVarint64,
  type ReadCursor,
} from '../../src/wire/varint.js';
import { varint } from './wire-helpers.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function readInt64(bytes: Uint8Array, start = 0, end = bytes.length): { value: number; pos: number } {
  const cur: ReadCursor = { pos: start };
  const value = readVarint64(bytes, cur, end);
  return { value, pos: cur.pos };
}

function writeInt64(value: number): Buffer {
  const out = Buffer.alloc(16);
  return out.subarray(0, writeVarint64(out, 0, value));
}

describe('int64 varints', () => {
  const cases: { name: string; value: number }[] = [
    { name: 'zero', value: 0 },
    { name: 'one byte', value: 127 },
    { name: 'two bytes', value: 128 },
    { name: 'a 2023 timestamp in ms', value: 1_700_000_000_123 },
    { name: 'the largest 32-bit value', value: 0xffffffff },
    { name: '2^32', value: 2 ** 32 },
    { name: 'the largest safe integer', value: MAX_SAFE },
    { name: 'minus one', value: -1 },
    { name: 'minus 2^31', value: -(2 ** 31) },
    { name: 'minus 2^32', value: -(2 ** 32) },
    { name: 'a timestamp before 1970', value: -86_400_000 },
    { name: 'the smallest safe integer', value: -MAX_SAFE },
  ];

  it.each(cases)('writes $name exactly as protobufjs does and reads it back', ({ value }) => {
    const expected = protobuf.Writer.create().int64(value).finish();
    const written = writeInt64(value);
    expect(written.toString('hex')).toBe(Buffer.from(expected).toString('hex'));
    expect(written.length).toBe(varint64Size(value));
    expect(readInt64(written)).toEqual({ value, pos: written.length });
  });

  it('decodes negative values from their 10-byte two\'s complement form', () => {
    const bytes = varint(-1_234_567_890_123n);
    expect(bytes.length).toBe(10);
    expect(readInt64(bytes).value).toBe(-1_234_567_890_123);
  });

  it('reads a varint near the end of a buffer, where bounds are checked per byte', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xff]), varint(-42n)]);
    expect(readInt64(bytes, 2)).toEqual({ value: -42, pos: bytes.length });
    const shortOne = Buffer.concat([Buffer.alloc(3), varint(1_700_000_000_123n)]);
    expect(readInt64(shortOne, 3)).toEqual({ value: 1_700_000_000_123, pos: shortOne.length });
  });

  it('ignores bits beyond the 64th in the tenth byte, as Go and protobufjs do', () => {
    const bytes = Buffer.from(varint(-1n));
    bytes[9] = 0x7f; // only its lowest bit counts
    expect(readInt64(bytes).value).toBe(-1);
  });

  const malformed: { name: string; bytes: number[]; end?: number }[] = [
    { name: 'an empty input', bytes: [] },
    { name: 'a continuation bit on the last byte', bytes: [0x80, 0x80] },
    { name: 'an eleventh byte', bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] },
    { name: 'a varint cut by the end bound', bytes: [0x96, 0x01], end: 1 },
  ];

  it.each(malformed)('returns NaN and leaves the cursor for $name', ({ bytes, end }) => {
    const input = Buffer.from(bytes);
    const cur: ReadCursor = { pos: 0 };
    expect(readVarint64(input, cur, end ?? input.length)).toBeNaN();
    expect(cur.pos).toBe(0);
  });

  it('round-trips every safe integer and matches protobufjs\'s encoding', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (value) => {
        const written = writeInt64(value);
        expect(Buffer.from(protobuf.Writer.create().int64(value).finish()).equals(written)).toBe(true);
        expect(readInt64(written).value).toBe(value);
        expect(varint64Size(value)).toBe(written.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes any 64-bit pattern to the nearest double of its signed value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (value) => {
        expect(readInt64(varint(value)).value).toBe(Number(value));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('unsigned varints', () => {
  const cases = [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 + 5, 2 ** 35, MAX_SAFE];

  it.each(cases)('writes %d minimally and reads it back', (value) => {
    const out = Buffer.alloc(12);
    const end = writeUvarint(out, 0, value);
    expect(out.subarray(0, end).toString('hex')).toBe(varint(value).toString('hex'));
    expect(uvarintSize(value)).toBe(end);
    const cur: ReadCursor = { pos: 0 };
    expect(readUvarint(out, cur, end)).toBe(value);
    expect(cur.pos).toBe(end);
    expect(skipVarint(out, 0, end)).toBe(end);
  });

  it('accepts non-minimal (padded) encodings, as protobuf requires', () => {
    const cur: ReadCursor = { pos: 0 };
    expect(readUvarint(Buffer.from([0x85, 0x80, 0x80, 0x00]), cur, 4)).toBe(5);
    expect(cur.pos).toBe(4);
  });

  it.each([
    { name: 'truncated', bytes: [0xff, 0xff] },
    { name: 'longer than 10 bytes', bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00] },
  ])('reports a $name varint with -1 and leaves the cursor', ({ bytes }) => {
    const input = Buffer.from(bytes);
    const cur: ReadCursor = { pos: 0 };
    expect(readUvarint(input, cur, input.length)).toBe(-1);
    expect(cur.pos).toBe(0);
    expect(skipVarint(input, 0, input.length)).toBe(-1);
  });

  it('round-trips random non-negative safe integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_SAFE }), (value) => {
        const out = Buffer.alloc(12);
        const end = writeUvarint(out, 0, value);
        expect(end).toBe(uvarintSize(value));
        expect(readUvarint(out, { pos: 0 }, end)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });
});
