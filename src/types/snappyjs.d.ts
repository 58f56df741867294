declare module 'snappyjs' {
  /** Decompress snappy block format; throws when the declared length exceeds maxLength or the stream is corrupt. */
  export function uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
  /** Compress into snappy block format. */
  export function compress(uncompressed: Uint8Array): Uint8Array;
}
