/**
 * Just enough protobuf and snappy reading to count what a remote-write request carries, without
 * building objects: the sink uses it to count forwarded samples.
 */

export interface WriteRequestCounts {
  series: number;
  samples: number;
}

/** Reads a varint at `pos`; returns [value, next position]. Lengths here stay far below 2^53. */
function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++] as number;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

/** Skips one field of wire type `wireType` starting at `pos`; returns the next position. */
function skipField(buf: Uint8Array, pos: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return readVarint(buf, pos)[1];
    case 1:
      return pos + 8;
    case 2: {
      const [len, next] = readVarint(buf, pos);
      return next + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`unsupported wire type ${wireType}`);
  }
}

/**
 * Counts `timeseries` (field 1 of WriteRequest) and their `samples` (field 2 of TimeSeries) in an
 * uncompressed Prometheus remote-write 1.0 WriteRequest. Throws on malformed input.
 */
export function countWriteRequest(buf: Uint8Array): WriteRequestCounts {
  let series = 0;
  let samples = 0;
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) {
      const [len, start] = readVarint(buf, afterTag);
      const end = start + len;
      if (end > buf.length) throw new Error('truncated time series');
      series++;
      let p = start;
      while (p < end) {
        const [innerTag, afterInner] = readVarint(buf, p);
        const innerWire = innerTag & 7;
        if (Math.floor(innerTag / 8) === 2 && innerWire === 2) samples++;
        p = skipField(buf, afterInner, innerWire);
      }
      if (p !== end) throw new Error('time series overruns its length');
      pos = end;
    } else {
      pos = skipField(buf, afterTag, wireType);
    }
    if (pos > buf.length) throw new Error('truncated field');
  }
  return { series, samples };
}

/**
 * The uncompressed length a snappy block declares in its first bytes (a varint), or undefined
 * when the prefix is too short or malformed.
 */
export function snappyDeclaredLength(prefix: Uint8Array): number | undefined {
  try {
    const [len] = readVarint(prefix, 0);
    return len;
  } catch {
    return undefined;
  }
}
