import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashmod } from '../../src/relabel/hashmod.js';

const MAX_UINT64 = (1n << 64n) - 1n;

// Any code points, lone surrogates included (fast-check's own 'binary' unit has a slow first use).
const anyText = fc.array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 24 }).map((cps) => String.fromCodePoint(...cps));

/** Straightforward BigInt version of Prometheus' sum64(md5(value)) % modulus. */
function reference(value: string, modulus: bigint): string {
  const digest = createHash('md5').update(value, 'utf8').digest();
  return (digest.readBigUInt64BE(8) % modulus).toString();
}

describe('hashmod', () => {
  // Values verified against the Prometheus 2.42 binary (facts §5.5).
  const verified: { value: string; modulus: bigint; want: string }[] = [
    { value: 'baz', modulus: 1000n, want: '976' },
    { value: 'foo\nbar', modulus: 1000n, want: '734' },
    { value: 'foo', modulus: 1000n, want: '696' },
    { value: 'foo;bar', modulus: 1000n, want: '750' },
    { value: '', modulus: 1000n, want: '958' },
    { value: '10.0.0.1:9100', modulus: 7n, want: '2' },
    { value: '10.0.0.1:9100', modulus: 9007199254740991n, want: '8633642383478180' },
    { value: 'foo', modulus: 1000000007n, want: '819793643' },
    { value: '10.132.183.40:80', modulus: 3n, want: '1' },
  ];
  it.each(verified)('md5($value) mod $modulus = $want', ({ value, modulus, want }) => {
    expect(hashmod(value, modulus)).toBe(want);
  });

  const bounds: { name: string; value: string; modulus: bigint }[] = [
    { name: 'modulus 1', value: 'foo', modulus: 1n },
    { name: 'largest fast-path modulus', value: 'foo', modulus: 0xffff_ffffn },
    { name: 'smallest BigInt modulus', value: 'foo', modulus: 0x1_0000_0000n },
    { name: 'modulus 2^53 + 1', value: 'foo', modulus: 2n ** 53n + 1n },
    { name: 'largest modulus', value: 'foo', modulus: MAX_UINT64 },
    { name: 'non-ASCII value hashed as UTF-8', value: 'straße☃😀', modulus: 1000n },
  ];
  it.each(bounds)('$name', ({ value, modulus }) => {
    expect(hashmod(value, modulus)).toBe(reference(value, modulus));
  });

  it('reads digest bytes 8..15 big-endian', () => {
    // md5("foo") = acbd18db4cc2f85c edef654fccc4a4d8; only the second half counts.
    const raw = 0xedef654fccc4a4d8n;
    expect(hashmod('foo', MAX_UINT64)).toBe((raw % MAX_UINT64).toString());
    expect(hashmod('foo', 1n << 63n)).toBe((raw % (1n << 63n)).toString());
    expect(hashmod('foo', 0x1_0000_0000n)).toBe((raw & 0xffff_ffffn).toString());
    expect(hashmod('foo', 0xffff_ffffn)).toBe((raw % 0xffff_ffffn).toString());
  });

  it.each([0n, -1n, 1n << 64n])('refuses modulus %s', (modulus) => {
    expect(() => hashmod('foo', modulus)).toThrow(RangeError);
  });

  it('fast path (modulus < 2^32) equals the BigInt computation', () => {
    fc.assert(
      fc.property(anyText, fc.bigInt({ min: 1n, max: 0xffff_ffffn }), (value, modulus) => {
        expect(hashmod(value, modulus)).toBe(reference(value, modulus));
      }),
      { numRuns: 1000 },
    );
  });

  it('small moduli near powers of two equal the BigInt computation', () => {
    const moduli = [2n, 3n, 255n, 256n, 65535n, 65536n, 65537n, 2n ** 21n - 1n, 2n ** 21n + 1n, 2n ** 31n, 0xffff_fffbn];
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.constantFrom(...moduli), (value, modulus) => {
        expect(hashmod(value, modulus)).toBe(reference(value, modulus));
      }),
      { numRuns: 1000 },
    );
  });

  it('fast path with short ASCII values equals the BigInt computation', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.bigInt({ min: 1n, max: 0xffff_ffffn }), (value, modulus) => {
        expect(hashmod(value, modulus)).toBe(reference(value, modulus));
      }),
      { numRuns: 3000 },
    );
  });

  it('every modulus equals the BigInt computation', () => {
    fc.assert(
      fc.property(fc.string(), fc.bigInt({ min: 1n, max: MAX_UINT64 }), (value, modulus) => {
        expect(hashmod(value, modulus)).toBe(reference(value, modulus));
      }),
      { numRuns: 1000 },
    );
  });
});
