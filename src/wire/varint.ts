/**
 * Protobuf base-128 varints on plain bytes, without BigInt.
 *
 * Readers never throw: they report malformed input with a sentinel (-1 or NaN) so the caller, who
 * knows which message and field it was reading, can build the error. A read position travels in a
 * {@link ReadCursor} that the caller reuses, so reading allocates nothing.
 *
 * int64 values are carried as two 32-bit halves while reading, which makes negative numbers
 * (always 10 bytes on the wire, two's complement) exact: any |value| < 2^53 comes out exactly.
 */

/** A read position, advanced by the readers on success and left untouched on failure. */
export interface ReadCursor {
  pos: number;
}

/** The longest valid varint: 64 bits in 7-bit groups. */
export const MAX_VARINT_BYTES = 10;

const TWO_POW_32 = 4294967296;

/**
 * Reads an unsigned varint (up to 10 bytes) starting at `cur.pos`, never past `end`.
 *
 * Returns the value, exact below 2^53 (lengths, tags and counts never come near), and moves
 * `cur.pos` past it; returns -1 and leaves `cur.pos` alone when the varint is truncated or longer
 * than 10 bytes. Non-minimal encodings (padded with 0x80 bytes) are accepted, as protobuf requires.
 */
export function readUvarint(buf: Uint8Array, cur: ReadCursor, end: number): number {
  let pos = cur.pos;
  let value = 0;
  let scale = 1;
  const last = Math.min(end, pos + MAX_VARINT_BYTES);
  while (pos < last) {
    const b = buf[pos++] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      cur.pos = pos;
      return value;
    }
    scale *= 128;
  }
  return -1;
}

/**
 * Reads an int64 varint (two's complement; negative values take 10 bytes) starting at `cur.pos`.
 *
 * Returns the value as a number, exact for |value| < 2^53 and the nearest double beyond, and moves
 * `cur.pos` past it; returns NaN and leaves `cur.pos` alone when the varint is truncated or longer
 * than 10 bytes. Like Go's decoder, bits beyond the 64th (in the 10th byte) are ignored.
 */
export function readVarint64(buf: Uint8Array, cur: ReadCursor, end: number): number {
  let pos = cur.pos;
  if (end - pos >= MAX_VARINT_BYTES) {
    // Enough bytes for any varint: no bounds check per byte. Bits 0..27 come from bytes 0..3.
    let b = buf[pos++] as number;
    let lo = b & 0x7f;
    if (b < 0x80) {
      cur.pos = pos;
      return lo;
    }
    b = buf[pos++] as number;
    lo |= (b & 0x7f) << 7;
    if (b < 0x80) {
      cur.pos = pos;
      return lo;
    }
    b = buf[pos++] as number;
    lo |= (b & 0x7f) << 14;
    if (b < 0x80) {
      cur.pos = pos;
      return lo;
    }
    b = buf[pos++] as number;
    lo |= (b & 0x7f) << 21;
    if (b < 0x80) {
      cur.pos = pos;
      return lo;
    }
    // Byte 4 straddles the halves: 4 bits into lo (28..31), 3 bits into hi (32..34).
    b = buf[pos++] as number;
    lo = (lo | ((b & 0x0f) << 28)) >>> 0;
    let hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      // Bytes 5..8 fill hi bits 3..30, byte 9 its bit 31.
      let shift = 3;
      for (;;) {
        b = buf[pos++] as number;
        if (shift === 31) {
          if (b >= 0x80) return NaN; // an 11th byte would follow
          hi |= (b & 0x01) << 31;
          break;
        }
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
      }
    }
    cur.pos = pos;
    return int64FromHalves(lo, hi);
  }
  return readVarint64Near(buf, cur, end);
}

/** The same as readVarint64, for the last few bytes of a buffer: checks bounds on every byte. */
function readVarint64Near(buf: Uint8Array, cur: ReadCursor, end: number): number {
  let pos = cur.pos;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (pos >= end) return NaN;
    const b = buf[pos++] as number;
    const bits = b & 0x7f;
    if (i < 4) {
      lo |= bits << (7 * i);
    } else if (i === 4) {
      lo |= (bits & 0x0f) << 28;
      hi = bits >>> 4;
    } else if (i < 9) {
      hi |= bits << (7 * i - 32);
    } else {
      hi |= (bits & 0x01) << 31;
    }
    if (b < 0x80) {
      cur.pos = pos;
      return int64FromHalves(lo >>> 0, hi);
    }
  }
  return NaN;
}

/** The int64 whose two's complement halves are `lo` (unsigned) and `hi` (any int32 view). */
function int64FromHalves(lo: number, hi: number): number {
  if (hi & 0x80000000) {
    // Negative: magnitude = ~value + 1, computed on the halves so no precision is lost. The +1
    // goes into the low half first (exact, at most 2^32) so the sum rounds only once.
    return -((~hi >>> 0) * TWO_POW_32 + ((~lo >>> 0) + 1));
  }
  return hi * TWO_POW_32 + lo;
}

/**
 * The position just past the varint that starts at `pos`, or -1 when it is truncated (reaches
 * `end`) or longer than 10 bytes.
 */
export function skipVarint(buf: Uint8Array, pos: number, end: number): number {
  const last = Math.min(end, pos + MAX_VARINT_BYTES);
  while (pos < last) {
    if ((buf[pos++] as number) < 0x80) return pos;
  }
  return -1;
}

/**
 * Writes `value` (a non-negative integer below 2^53) as an unsigned varint at `pos`; returns the
 * position after it. The caller makes sure `target` has {@link uvarintSize} bytes of room.
 */
export function writeUvarint(target: Uint8Array, pos: number, value: number): number {
  // Bitwise operators work on 32 bits: use them while the value fits, arithmetic above.
  while (value > 0x7fffffff) {
    target[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  while (value > 0x7f) {
    target[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[pos++] = value;
  return pos;
}

/**
 * Writes `value` (an integer with |value| < 2^53) as an int64 varint at `pos`: negative values
 * take 10 bytes (two's complement), as every protobuf encoder writes them. Returns the position
 * after it.
 */
export function writeVarint64(target: Uint8Array, pos: number, value: number): number {
  if (value >= 0) return writeUvarint(target, pos, value);
  const magnitude = -value;
  // Two's complement of the magnitude, on 32-bit halves: invert, then add one with carry.
  let lo = (~(magnitude % TWO_POW_32) + 1) >>> 0;
  let hi = ~Math.floor(magnitude / TWO_POW_32) >>> 0;
  if (lo === 0) hi = (hi + 1) >>> 0;
  for (let i = 0; i < 4; i++) {
    target[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  // Byte 4: lo bits 28..31 and hi bits 0..2.
  target[pos++] = (lo | ((hi & 0x07) << 4)) | 0x80;
  hi >>>= 3;
  for (let i = 0; i < 4; i++) {
    target[pos++] = (hi & 0x7f) | 0x80;
    hi >>>= 7;
  }
  target[pos++] = hi; // the single top bit, 1 for a negative number
  return pos;
}

/** Bytes an unsigned varint of `value` (a non-negative integer below 2^53) takes. */
export function uvarintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  let limit = 0x800000000; // 2^35
  while (value >= limit) {
    size++;
    limit *= 128;
  }
  return size;
}

/** Bytes an int64 varint of `value` (an integer with |value| < 2^53) takes: 10 when negative. */
export function varint64Size(value: number): number {
  return value < 0 ? MAX_VARINT_BYTES : uvarintSize(value);
}
