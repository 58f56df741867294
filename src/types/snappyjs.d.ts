declare module 'snappyjs' {
  /** Decompress snappy block format; throws when the declared length exceeds maxLength or the stream is corrupt. */
  export function uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
  /** Compress into snappy block format. */
  export function compress(uncompressed: Uint8Array): Uint8Array;
}

declare module 'snappyjs/snappy_compressor.js' {
  export class SnappyCompressor {
    constructor(uncompressed: Uint8Array);
    maxCompressedLength(): number;
    /** Writes the compressed block into `out` (which must hold maxCompressedLength bytes); returns its length. */
    compressToBuffer(out: Uint8Array): number;
  }
}
