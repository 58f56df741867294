/**
 * Fresh timestamps for pre-compressed remote-write requests, without re-encoding or re-compressing
 * them: the bytes of every sample timestamp are located in the snappy stream once, before anything
 * is timed, and each later send only overwrites those few bytes.
 *
 * Why this works. A snappy block is a sequence of literals (bytes as they are) and copies (bytes
 * repeated from earlier output). {@link planTimestampPatch} decodes the block byte by byte and
 * follows every output byte back through copies to the literal byte it ultimately comes from (its
 * "root", an offset in the compressed body). Timestamps are fixed-length varints (6 bytes for ms
 * around now: [2^35, 2^42) ms is 1971..2109). The plan is valid when, for every output byte, its
 * root was written (as a literal) to a position that plays the same role:
 * - a timestamp byte's root is the same byte index of a timestamp with the same value, so
 *   overwriting the literal changes every copy of it the same way;
 * - a non-timestamp byte's root is not a timestamp byte, so overwriting timestamp literals leaves
 *   it alone.
 * Anything else (a coincidental match: a timestamp byte copied from label bytes, or label bytes
 * copied from a timestamp) makes the request not patchable, and the plan says where.
 *
 * Patching adds the same delta to every timestamp of the request: the request's distinct original
 * values are re-encoded (at the same varint length) and their bytes written at the recorded
 * literal offsets, typically a few dozen bytes per request (one literal timestamp per 64 KiB
 * fragment that snappyjs compresses separately, the rest are copies of it).
 */

/** ms timestamps with a 6-byte varint: [2^35, 2^42). */
export const SIX_BYTE_VARINT_MIN = 2 ** 35;
export const SIX_BYTE_VARINT_END = 2 ** 42;

/** Bytes a varint of the non-negative integer `value` takes (exact up to 2^53). */
export function varintLength(value: number): number {
  let n = 1;
  let v = value;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes the varint of `value` (non-negative integer below 2^53) at `at`; returns the length. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  let v = value;
  let o = at;
  while (v >= 128) {
    out[o++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[o++] = v;
  return o - at;
}

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

function skip(buf: Uint8Array, pos: number, wireType: number): number {
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

export interface TimestampField {
  /** Offset of the varint's first byte in the uncompressed WriteRequest. */
  readonly offset: number;
  readonly length: number;
  readonly value: number;
}

/**
 * Every sample timestamp of an uncompressed RW 1.0 WriteRequest: WriteRequest field 1 (TimeSeries)
 * > field 2 (Sample) > field 2 (timestamp, varint). Throws on malformed input.
 */
export function findTimestampFields(raw: Uint8Array): TimestampField[] {
  const out: TimestampField[] = [];
  const within = (start: number, end: number, visit: (field: number, wire: number, at: number, next: number) => void): void => {
    let p = start;
    while (p < end) {
      const [tag, afterTag] = readVarint(raw, p);
      const wire = tag & 7;
      const next = skip(raw, afterTag, wire);
      if (next > end) throw new Error(`field at ${p} overruns its message`);
      visit(Math.floor(tag / 8), wire, afterTag, next);
      p = next;
    }
  };
  const lenBody = (at: number): number => readVarint(raw, at)[1];
  within(0, raw.length, (field, wire, at, next) => {
    if (field !== 1 || wire !== 2) return;
    within(lenBody(at), next, (f2, w2, at2, next2) => {
      if (f2 !== 2 || w2 !== 2) return;
      within(lenBody(at2), next2, (f3, w3, at3, next3) => {
        if (f3 !== 2 || w3 !== 0) return;
        out.push({ offset: at3, length: next3 - at3, value: readVarint(raw, at3)[0] });
      });
    });
  });
  return out;
}

/** Where the timestamp bytes of one compressed request come from, and how to rewrite them. */
export interface PatchPlan {
  /** The request's distinct original timestamps (ms), ascending. */
  readonly values: readonly number[];
  /** Varint length of every timestamp (and of every patched one). */
  readonly varintLength: number;
  /** Compressed-body offsets of the literal bytes to rewrite... */
  readonly offsets: Int32Array;
  /** ...which timestamp (index into `values`) each one belongs to... */
  readonly valueIndex: Uint16Array;
  /** ...and which byte of its varint. */
  readonly byteIndex: Uint8Array;
  /** Sample timestamps in the request (all of them follow the patch). */
  readonly timestampFields: number;
}

export type PlanResult = { readonly ok: true; readonly plan: PatchPlan } | { readonly ok: false; readonly reason: string };

/**
 * Decodes snappy block `body` element by element, recording for each output byte the
 * compressed offset of the literal byte it ultimately comes from. Returns the output, the roots,
 * and for each compressed offset the output position its literal byte was written to (-1: not a
 * literal data byte). Throws on malformed input.
 */
export function traceSnappy(body: Uint8Array): { out: Uint8Array; root: Int32Array; literalAt: Int32Array } {
  const n = body.length;
  let pos = 0;
  let length = 0;
  for (let scale = 1; ; scale *= 128) {
    if (pos >= n || pos === 5) throw new Error('bad snappy length header');
    const b = body[pos++] as number;
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
  }
  const out = new Uint8Array(length);
  const root = new Int32Array(length);
  const literalAt = new Int32Array(n).fill(-1);
  let op = 0;
  while (pos < n) {
    const at = pos;
    const tag = body[pos++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (pos + extra > n) throw new Error(`literal length cut short at ${at}`);
        len = 0;
        for (let k = extra - 1; k >= 0; k--) len = len * 256 + (body[pos + k] as number);
        pos += extra;
      }
      len += 1;
      if (pos + len > n || op + len > length) throw new Error(`literal overruns at ${at}`);
      for (let k = 0; k < len; k++) {
        out[op] = body[pos] as number;
        root[op] = pos;
        literalAt[pos] = op;
        op++;
        pos++;
      }
      continue;
    }
    let len: number;
    let off: number;
    if (kind === 1) {
      if (pos + 1 > n) throw new Error(`copy cut short at ${at}`);
      len = ((tag >>> 2) & 7) + 4;
      off = ((tag >>> 5) << 8) | (body[pos] as number);
      pos += 1;
    } else if (kind === 2) {
      if (pos + 2 > n) throw new Error(`copy cut short at ${at}`);
      len = (tag >>> 2) + 1;
      off = (body[pos] as number) | ((body[pos + 1] as number) << 8);
      pos += 2;
    } else {
      if (pos + 4 > n) throw new Error(`copy cut short at ${at}`);
      len = (tag >>> 2) + 1;
      off = ((body[pos] as number) | ((body[pos + 1] as number) << 8) | ((body[pos + 2] as number) << 16)) + (body[pos + 3] as number) * 0x1000000;
      pos += 4;
    }
    if (off === 0 || off > op || op + len > length) throw new Error(`bad copy at ${at}`);
    // Byte by byte, as the format defines it (an offset below the length repeats a pattern).
    for (let k = 0; k < len; k++) {
      out[op] = out[op - off] as number;
      root[op] = root[op - off] as number;
      op++;
    }
  }
  if (op !== length) throw new Error(`snappy block produced ${op} of ${length} bytes`);
  return { out, root, literalAt };
}

/**
 * Plans the timestamp patch of compressed request `body` (see the file comment). `raw`, when
 * given, must equal the decompressed body (a check that the trace decodes like snappyjs).
 */
export function planTimestampPatch(body: Uint8Array, raw?: Uint8Array): PlanResult {
  const { out, root, literalAt } = traceSnappy(body);
  if (raw !== undefined && Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.length), Buffer.from(raw.buffer, raw.byteOffset, raw.length)) !== 0) {
    return { ok: false, reason: 'the traced decode differs from the uncompressed request' };
  }
  const fields = findTimestampFields(out);
  if (fields.length === 0) return { ok: false, reason: 'no sample timestamps' };
  const width = (fields[0] as TimestampField).length;
  const values = [...new Set(fields.map((f) => f.value))].sort((a, b) => a - b);
  if (values.length > 0xffff) return { ok: false, reason: `${values.length} distinct timestamps in one request` };
  const index = new Map(values.map((v, i) => [v, i]));
  // role[i]: 0 for a non-timestamp byte, else 1 + (value index * 16 + byte index).
  const role = new Int32Array(out.length);
  for (const f of fields) {
    if (f.length !== width) return { ok: false, reason: `timestamps of different varint lengths (${width} and ${f.length} bytes)` };
    const vi = index.get(f.value) as number;
    for (let b = 0; b < f.length; b++) role[f.offset + b] = 1 + vi * 16 + b;
  }
  const describe = (r: number): string => (r === 0 ? 'a non-timestamp byte' : `byte ${(r - 1) % 16} of timestamp ${values[Math.floor((r - 1) / 16)]}`);
  for (let i = 0; i < out.length; i++) {
    const from = literalAt[root[i] as number] as number;
    const want = role[i] as number;
    const got = role[from] as number;
    if (want !== got) {
      return { ok: false, reason: `output byte ${i} (${describe(want)}) is a copy of output byte ${from} (${describe(got)}), a coincidental match` };
    }
  }
  const offsets: number[] = [];
  for (let c = 0; c < body.length; c++) {
    const o = literalAt[c] as number;
    if (o >= 0 && (role[o] as number) !== 0) offsets.push(c);
  }
  const plan: PatchPlan = {
    values,
    varintLength: width,
    offsets: Int32Array.from(offsets),
    valueIndex: Uint16Array.from(offsets, (c) => Math.floor(((role[literalAt[c] as number] as number) - 1) / 16)),
    byteIndex: Uint8Array.from(offsets, (c) => ((role[literalAt[c] as number] as number) - 1) % 16),
    timestampFields: fields.length,
  };
  return { ok: true, plan };
}

/**
 * Rewrites `body` in place so that every sample timestamp is its original value (as planned) plus
 * `deltaMs`. Throws if a new timestamp would need a different varint length (the body would have
 * to change size). A few dozen byte writes: microseconds.
 */
export function patchTimestamps(body: Uint8Array, plan: PatchPlan, deltaMs: number, scratch?: Uint8Array): void {
  const w = plan.varintLength;
  const need = plan.values.length * w;
  const bytes = scratch !== undefined && scratch.length >= need ? scratch : new Uint8Array(need);
  for (let v = 0; v < plan.values.length; v++) {
    const t = (plan.values[v] as number) + deltaMs;
    if (!Number.isSafeInteger(t) || t < 0 || varintLength(t) !== w) {
      throw new Error(`timestamp ${t} does not fit the ${w}-byte varint the request was compressed with`);
    }
    writeVarint(bytes, v * w, t);
  }
  const { offsets, valueIndex, byteIndex } = plan;
  for (let e = 0; e < offsets.length; e++) {
    body[offsets[e] as number] = bytes[(valueIndex[e] as number) * w + (byteIndex[e] as number)] as number;
  }
}
