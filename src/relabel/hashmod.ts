import { hash } from 'node:crypto';

const MAX_UINT64 = (1n << 64n) - 1n;

// A rule's modulus never changes and configs rarely have several hashmod rules, so remember the
// last modulus checked and converted: repeat calls skip the range check and Number().
let cachedModulus: bigint | undefined;
let cachedSmall = 0; // the modulus as a number when it is < 2^32, else 0 (use BigInt)

/** Prometheus' hashmod: md5 of the UTF-8 bytes, bytes 8..15 of the digest as a big-endian uint64, mod modulus (1..2^64-1). Returns the decimal string. */
export function hashmod(value: string, modulus: bigint): string {
  if (modulus !== cachedModulus) {
    if (modulus < 1n || modulus > MAX_UINT64) {
      throw new RangeError(`hashmod modulus must be in 1..2^64-1, got ${modulus}`);
    }
    cachedSmall = modulus < 0x1_0000_0000n ? Number(modulus) : 0;
    cachedModulus = modulus;
  }
  const digest = hash('md5', value, 'buffer');
  const hi = digest.readUInt32BE(8);
  const lo = digest.readUInt32BE(12);
  const m = cachedSmall;
  if (m !== 0) {
    // Horner over the 64-bit value in 32+16+16-bit digits: every intermediate stays below
    // 2^32 * 2^16 + 2^16 < 2^53, so plain doubles are exact.
    let r = hi % m;
    r = (r * 0x1_0000 + (lo >>> 16)) % m;
    r = (r * 0x1_0000 + (lo & 0xffff)) % m;
    return String(r);
  }
  return (digest.readBigUInt64BE(8) % modulus).toString();
}
