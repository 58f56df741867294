/**
 * Snappy block format (the only compression remote write allows). The declared decompressed length
 * is read and checked against the cap before anything is allocated, so a 20-byte body claiming
 * 4 GiB costs nothing.
 */
import { compress, uncompress } from 'snappyjs';
import { BadPayloadError } from '../errors.js';

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

/** Decompress a request body; BadPayloadError on corrupt input or a declared size over the cap. */
export function decompressBody(body: Buffer, maxDecodedBytes: number): Buffer {
  const declared = declaredSnappyLength(body);
  if (declared < 0) {
    throw new BadPayloadError('bad_snappy', 'body is not snappy block format: its length header is corrupt (is the sender using snappy framed format, or no compression?)');
  }
  if (declared > maxDecodedBytes) {
    throw new BadPayloadError(
      'decoded_too_large',
      `snappy header declares ${declared} decompressed bytes, over the limit of ${maxDecodedBytes} (server.max_decoded_bytes); lower queue_config.max_samples_per_send on the sender`,
    );
  }
  try {
    return uncompress(body, maxDecodedBytes) as Buffer;
  } catch (err) {
    throw new BadPayloadError('bad_snappy', `body is not valid snappy block format: ${(err as Error).message}`);
  }
}

/** Compress an encoded WriteRequest into a new Buffer the caller owns. */
export function compressBody(raw: Uint8Array): Buffer {
  const out = compress(raw);
  return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
