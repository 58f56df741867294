import fc from 'fast-check';
import { uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { BadPayloadError } from '../../src/errors.js';
import { compressBody, concatSnappyBlocks, decompressBody, declaredSnappyLength } from '../../src/wire/snappy.js';

describe('snappy', () => {
  it('round-trips any bytes through compressBody and decompressBody, with an exactly sized output', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100_000 }), (bytes) => {
        const compressed = compressBody(bytes);
        expect(compressed.buffer.byteLength).toBe(compressed.length);
        expect(decompressBody(compressed, bytes.length).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('concatenates blocks without decompressing: the result decompresses to the inputs in order', () => {
    // Repetitive content makes the compressor emit back-references, the part that must stay valid.
    const chunk = fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.string({ maxLength: 3000 }).map((s) => Buffer.from(s.repeat(3))));
    fc.assert(
      fc.property(fc.array(chunk, { minLength: 1, maxLength: 6 }), (chunks) => {
        const merged = concatSnappyBlocks(chunks.map((c) => compressBody(c)));
        const expected = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        expect(declaredSnappyLength(merged)).toBe(expected.length);
        expect(Buffer.from(uncompress(merged)).equals(expected)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('writes a multi-byte length header when the merged block crosses 128 bytes', () => {
    const a = compressBody(Buffer.alloc(100, 1));
    const b = compressBody(Buffer.alloc(100, 2));
    const merged = concatSnappyBlocks([a, b]);
    expect(declaredSnappyLength(merged)).toBe(200);
    expect(Buffer.from(uncompress(merged))).toEqual(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(100, 2)]));
  });

  it.each([
    ['a length header that never ends', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'bad_snappy'],
    ['a declared length over the cap', Buffer.from([0x80, 0x80, 0x80, 0x01]), 'decoded_too_large'],
    ['an empty body', Buffer.alloc(0), 'bad_snappy'],
  ])('refuses %s', (_name, body, reason) => {
    try {
      decompressBody(body, 1 << 20);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(BadPayloadError);
      expect((err as BadPayloadError).reason).toBe(reason);
    }
  });
});
