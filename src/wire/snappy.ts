/**
 * Snappy block format (the only compression remote write allows). The declared decompressed length
 * is read and checked against the cap before anything is allocated, so a 20-byte body claiming
 * 4 GiB costs nothing.
 */
import { SnappyCompressor } from 'snappyjs/snappy_compressor.js';
import { BadPayloadError } from '../errors.js';
import { decodedTooLargeError, snappyDecode } from './snappy-decode.js';

/**
 * The length a snappy block declares in its leading varint (at most 32 bits), or -1 when the
 * header is not a valid varint.
 */
export function declaredSnappyLength(body: Uint8Array): number {
  let result = 0;
  for (let i = 0; i < 5 && i < body.length; i++) {
    const b = body[i] as number;
    result += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return result > 0xffffffff ? -1 : result;
  }
  return -1;
}

/**
 * Decompress a request body into a new Buffer the caller owns; BadPayloadError on corrupt or
 * truncated input ('bad_snappy') or a declared size over the cap ('decoded_too_large').
 */
export function decompressBody(body: Buffer, maxDecodedBytes: number, limitSetting = 'server.max_decoded_bytes'): Buffer {
  const declared = declaredSnappyLength(body);
  if (declared < 0) {
    throw new BadPayloadError('bad_snappy', 'body is not snappy block format: its length header is corrupt (is the sender using snappy framed format, or no compression?)');
  }
  if (declared > maxDecodedBytes) throw decodedTooLargeError(declared, maxDecodedBytes, limitSetting);
  return snappyDecode(body, maxDecodedBytes);
}

/** Reused output of the compressor: sized for the worst case, never handed out. */
let compressScratch = Buffer.allocUnsafe(1 << 20);

/**
 * Compress an encoded WriteRequest into a new, exactly sized Buffer the caller owns. (snappyjs'
 * own `compress` returns a view into a worst-case-sized allocation, which would keep about the
 * uncompressed size alive for every queued batch.)
 */
export function compressBody(raw: Uint8Array): Buffer {
  const compressor = new SnappyCompressor(raw);
  const worst = compressor.maxCompressedLength();
  if (compressScratch.length < worst) compressScratch = Buffer.allocUnsafe(Math.max(worst, compressScratch.length * 2));
  const length = compressor.compressToBuffer(compressScratch);
  const out = Buffer.allocUnsafeSlow(length);
  compressScratch.copy(out, 0, 0, length);
  return out;
}

function uvarintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/**
 * Join snappy blocks into one block whose content is their contents in order, without
 * decompressing: a block is a length header followed by literal and copy elements whose copy
 * offsets never reach before the block's own start, so the element streams can be laid end to end
 * under a header with the summed length. Concatenated WriteRequests are one valid WriteRequest
 * (all its fields are repeated), so this merges queued batches for one send at the cost of a memcpy.
 */
export function concatSnappyBlocks(blocks: readonly Buffer[]): Buffer {
  let total = 0;
  let bodyBytes = 0;
  for (const block of blocks) {
    const declared = declaredSnappyLength(block);
    if (declared < 0) throw new Error('concatSnappyBlocks: a block has a corrupt length header');
    total += declared;
    bodyBytes += block.length - uvarintSize(declared);
  }
  if (total > 0xffffffff) throw new Error(`concatSnappyBlocks: ${total} bytes is more than one snappy block can hold`);
  const out = Buffer.allocUnsafeSlow(uvarintSize(total) + bodyBytes);
  let pos = 0;
  let value = total;
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  for (const block of blocks) pos += block.copy(out, pos, uvarintSize(declaredSnappyLength(block)));
  return out;
}
