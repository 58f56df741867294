/**
 * A strict, fast decoder for the snappy block format (the compression remote write uses).
 *
 * The block is a varint holding the decompressed length, then elements told apart by the low two
 * bits of their tag byte:
 *   00 literal: length-1 in the upper 6 bits, or 60..63 there meaning 1..4 little-endian bytes
 *      follow holding length-1; then that many bytes copied as they are;
 *   01 copy of 4..11 bytes (bits 2..4, +4) from an 11-bit offset (bits 5..7 high, one byte low);
 *   10 copy of 1..64 bytes (upper 6 bits, +1) from a 2-byte little-endian offset;
 *   11 the same with a 4-byte offset.
 * A copy reads `offset` bytes back from where it writes, byte by byte, so an offset smaller than
 * the length repeats the last `offset` bytes (a run of one byte is offset 1).
 *
 * Unlike snappyjs, every element is bounds-checked against the input and the declared length, and
 * a block that ends before producing the declared length is refused, so a body cut short fails as
 * `bad_snappy` instead of decoding to garbage.
 *
 * Speed comes from doing little per element (remote-write bodies are mostly copies: labels repeat
 * from series to series):
 * - a long match comes as several copies with the same offset (one copy holds at most 64 bytes),
 *   so consecutive ones are merged and done as one;
 * - long copies and literals use native memmove (`copyWithin`, `set`), about 16 and 50 ns a call;
 * - short ones move 4 bytes at a time through a DataView (about 0.25 ns a byte, against about
 *   1 ns a byte for a byte loop), writing up to 3 bytes past their end when the output has room
 *   there: those bytes lie beyond everything produced so far and are overwritten by what follows.
 * The output is allocated once, uninitialised, and only returned after a check that every byte of
 * it was produced.
 */
import { BadPayloadError } from '../errors.js';

/**
 * Copies (merged) at least this long use `copyWithin`; shorter ones the 4-byte loop. Measured on
 * Node 20: a copyWithin call costs about 16 ns up to 128 bytes, the 4-byte loop about 15 ns for
 * 64 bytes; on bench/micro/snappy.ts any threshold from 32 to 128 gives the same speed.
 */
const NATIVE_COPY_MIN = 64;
/**
 * Pattern copies (offset < length) at least this long are done by doubling with `copyWithin`.
 * On runs of 1- to 12-byte patterns 256 was about 10% faster than 64 or 512.
 */
const NATIVE_PATTERN_MIN = 256;
/**
 * Literals at least this long use `TypedArray.set`, about 50 ns a call (it needs a subarray);
 * shorter ones the 4-byte loop. Few literals are long in remote-write bodies: 64 to 192 measure
 * the same.
 */
const NATIVE_LITERAL_MIN = 192;

/** The 'decoded_too_large' refusal, with the message decompressBody has always used. */
export function decodedTooLargeError(declared: number, maxDecodedBytes: number, limitSetting = 'server.max_decoded_bytes'): BadPayloadError {
  return new BadPayloadError(
    'decoded_too_large',
    `snappy header declares ${declared} decompressed bytes, over the limit of ${maxDecodedBytes} (${limitSetting}); lower queue_config.max_samples_per_send on the sender`,
  );
}

function corrupt(what: string, at: number): BadPayloadError {
  return new BadPayloadError('bad_snappy', `body is not valid snappy block format: ${what} (at input byte ${at})`);
}

/**
 * Write out[dst, dst+len) as a snappy copy does: each byte from `off` bytes before it, so with
 * off < len the last `off` bytes repeat. The caller has checked 0 < off <= dst and dst+len <= outLen,
 * and nothing at or after dst+len has been produced yet (up to 3 bytes there may be overwritten).
 */
function copyBack(out: Buffer, view: DataView, dst: number, off: number, len: number, outLen: number): void {
  const end = dst + len;
  if (len >= NATIVE_COPY_MIN) {
    if (off >= len) {
      out.copyWithin(dst, dst - off, end - off);
      return;
    }
    if (len >= NATIVE_PATTERN_MIN) {
      // [from, o) always holds a whole number of periods, so it can be appended as it is; it
      // doubles each round.
      const from = dst - off;
      let o = dst;
      while (o < end) {
        const n = Math.min(o - from, end - o);
        out.copyWithin(o, from, from + n);
        o += n;
      }
      return;
    }
  }
  let o = dst;
  let back = off;
  if (off < 4) {
    // A period of 1 or 2 is also a period of 4, and 3 one of 6: once that many bytes of the
    // pattern exist, copy from that far back, 4 bytes at a time.
    back = off === 3 ? 6 : 4;
    const stop = Math.min(end, dst + back - off);
    while (o < stop) {
      out[o] = out[o - off] as number;
      o++;
    }
  }
  let s = o - back;
  if (end + 3 <= outLen) {
    while (o < end) {
      view.setUint32(o, view.getUint32(s, true), true);
      o += 4;
      s += 4;
    }
  } else {
    while (o < end) out[o++] = out[s++] as number;
  }
}

/**
 * Decompress one snappy block. Throws BadPayloadError: 'decoded_too_large' when the declared
 * length is over `maxDecodedBytes` (checked before anything is allocated), 'bad_snappy' for any
 * malformed input, naming what is wrong and where.
 */
export function snappyDecode(src: Uint8Array, maxDecodedBytes: number): Buffer {
  const srcLen = src.length;
  if (srcLen === 0) throw corrupt('empty body, no length header', 0);

  let length = 0;
  let pos = 0;
  for (let scale = 1; ; scale *= 128) {
    if (pos === 5) throw corrupt('length header longer than 5 bytes', 0);
    if (pos === srcLen) throw corrupt('length header cut short by the end of the input', pos);
    const b = src[pos++] as number;
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
  }
  if (length > 0xffffffff) throw corrupt(`length header declares ${length} bytes, more than 32 bits`, 0);
  if (length > maxDecodedBytes) throw decodedTooLargeError(length, maxDecodedBytes);

  const out = Buffer.allocUnsafe(length);
  // Bounded to `out`: a write past its end would throw rather than touch the pool it may share.
  const view = new DataView(out.buffer, out.byteOffset, length);
  const srcView = new DataView(src.buffer, src.byteOffset, srcLen);
  let op = 0;

  while (pos < srcLen) {
    const at = pos;
    const tag = src[pos++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (extra > srcLen - pos) throw corrupt(`literal length (${extra} bytes) cut short by the end of the input`, at);
        len = src[pos] as number;
        if (extra > 1) {
          len |= (src[pos + 1] as number) << 8;
          if (extra > 2) {
            len |= (src[pos + 2] as number) << 16;
            if (extra > 3) len += (src[pos + 3] as number) * 0x1000000;
          }
        }
        pos += extra;
      }
      len += 1;
      if (len > srcLen - pos) throw corrupt(`literal of ${len} bytes runs past the end of the input (${srcLen - pos} left)`, at);
      if (len > length - op) throw corrupt(`literal of ${len} bytes runs past the declared length of ${length} (${op} produced)`, at);
      const end = op + len;
      if (len >= NATIVE_LITERAL_MIN) {
        out.set(src.subarray(pos, pos + len), op);
        pos += len;
        op = end;
      } else if (end + 3 <= length && pos + len + 3 <= srcLen) {
        while (op < end) {
          view.setUint32(op, srcView.getUint32(pos, true), true);
          op += 4;
          pos += 4;
        }
        pos -= op - end;
        op = end;
      } else {
        while (op < end) out[op++] = src[pos++] as number;
      }
      continue;
    }

    let len: number;
    let off: number;
    if (kind === 1) {
      if (pos >= srcLen) throw corrupt('1-byte-offset copy cut short by the end of the input', at);
      len = ((tag >>> 2) & 7) + 4;
      off = ((tag >>> 5) << 8) | (src[pos++] as number);
    } else if (kind === 2) {
      if (pos + 2 > srcLen) throw corrupt('2-byte-offset copy cut short by the end of the input', at);
      len = (tag >>> 2) + 1;
      off = (src[pos] as number) | ((src[pos + 1] as number) << 8);
      pos += 2;
    } else {
      if (pos + 4 > srcLen) throw corrupt('4-byte-offset copy cut short by the end of the input', at);
      len = (tag >>> 2) + 1;
      off = ((src[pos] as number) | ((src[pos + 1] as number) << 8) | ((src[pos + 2] as number) << 16)) + (src[pos + 3] as number) * 0x1000000;
      pos += 4;
    }
    if (off === 0) throw corrupt('copy with offset 0', at);
    if (off > op) throw corrupt(`copy reaches ${off} bytes back but only ${op} have been produced`, at);
    if (len > length - op) throw corrupt(`copy of ${len} bytes runs past the declared length of ${length} (${op} produced)`, at);
    if (len >= 60) {
      // A long match comes as copies of 64 (or 60) bytes and a shorter last one, all with the
      // same offset: take them as one. Anything else is left to the next round of the main loop,
      // which also reports it if it is invalid.
      while (pos + 2 < srcLen) {
        const next = src[pos] as number;
        let more: number;
        if ((next & 3) === 2 && ((src[pos + 1] as number) | ((src[pos + 2] as number) << 8)) === off) {
          more = (next >>> 2) + 1;
          if (more > length - op - len) break;
          pos += 3;
        } else if ((next & 3) === 1 && (((next >>> 5) << 8) | (src[pos + 1] as number)) === off) {
          more = ((next >>> 2) & 7) + 4;
          if (more > length - op - len) break;
          pos += 2;
        } else {
          break;
        }
        len += more;
        if (more < 60) break;
      }
    }
    const end = op + len;
    if (len < NATIVE_COPY_MIN && off >= 4 && end + 3 <= length) {
      // The common short copy, inline (see copyBack).
      let s = op - off;
      while (op < end) {
        view.setUint32(op, view.getUint32(s, true), true);
        op += 4;
        s += 4;
      }
    } else {
      copyBack(out, view, op, off, len, length);
    }
    op = end;
  }
  if (op !== length) throw corrupt(`input ended after producing ${op} of the ${length} declared bytes`, srcLen);
  return out;
}
