/**
 * Shared helpers of the wire codec tests: a plain-object view of a decoded WireBatch (comparable
 * with the reference codec's output) and a tiny hand-written protobuf builder for messages the
 * reference encoder cannot produce (unknown fields, odd encodings, malformed bytes).
 *
 * The builder uses BigInt throughout: it is deliberately a different implementation from
 * src/wire/varint.ts, so it can serve as that module's oracle.
 */
import { readFileSync } from 'node:fs';
import { WireBatch } from '../../src/model/batch.js';
import { decompressBody } from '../../src/wire/snappy.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import {
  doubleBits,
  reference,
  type RefExemplar,
  type RefHistogram,
  type RefLabel,
  type RefMetricMetadata,
  type RefWriteRequest,
} from '../support/reference-codec.js';

// ---- a comparable view of decoded requests ----

export interface ViewSample {
  /** The value's 64 bits, hex. */
  bits: string;
  /** The timestamp in ms, as a decimal string. */
  timestamp: string;
}

export interface ViewSeries {
  labels: RefLabel[];
  samples: ViewSample[];
  exemplars: RefExemplar[];
  histograms: RefHistogram[];
}

export interface ViewRequest {
  timeseries: ViewSeries[];
  metadata: RefMetricMetadata[];
}

/** What the reference decoder makes of `bytes`, with sample values turned into bits. */
export function referenceView(bytes: Uint8Array): ViewRequest {
  return viewOfReference(reference.decode(bytes));
}

export function viewOfReference(request: RefWriteRequest): ViewRequest {
  return {
    timeseries: request.timeseries.map((series) => ({
      labels: series.labels,
      samples: series.samples.map((s) => ({ bits: doubleBits(s.value), timestamp: s.timestamp })),
      exemplars: series.exemplars,
      histograms: series.histograms,
    })),
    metadata: request.metadata,
  };
}

/**
 * What a WireBatch holds, as plain data: labels read from their spans, sample values read as bits
 * from inside each sample's field span, timestamps as decoded. Exemplars, histograms and metadata
 * are kept as spans by the decoder, so their content is checked by handing the spans, wrapped in
 * a WriteRequest, to the reference decoder.
 */
export function batchView(batch: WireBatch): ViewRequest {
  const buf = batch.buf;
  const timeseries: ViewSeries[] = [];
  for (let s = 0; s < batch.seriesCount; s++) {
    const labels: RefLabel[] = [];
    const labelFirst = at(batch.seriesLabelFirst, s);
    for (let l = labelFirst; l < labelFirst + at(batch.seriesLabelCount, s); l++) {
      labels.push({
        name: buf.toString('utf8', at(batch.nameStart, l), at(batch.nameEnd, l)),
        value: buf.toString('utf8', at(batch.valueStart, l), at(batch.valueEnd, l)),
      });
    }
    const samples: ViewSample[] = [];
    const sampleFirst = at(batch.seriesSampleFirst, s);
    for (let i = sampleFirst; i < sampleFirst + at(batch.seriesSampleCount, s); i++) {
      samples.push({ bits: sampleValueBits(batch, i), timestamp: String(at(batch.sampleTimestampMs, i)) });
    }
    const spans: Buffer[] = [];
    const exemplarFirst = at(batch.seriesExemplarFirst, s);
    for (let i = exemplarFirst; i < exemplarFirst + at(batch.seriesExemplarCount, s); i++) {
      spans.push(buf.subarray(at(batch.exemplarStart, i), at(batch.exemplarEnd, i)));
    }
    const histogramFirst = at(batch.seriesHistogramFirst, s);
    for (let i = histogramFirst; i < histogramFirst + at(batch.seriesHistogramCount, s); i++) {
      spans.push(buf.subarray(at(batch.histogramStart, i), at(batch.histogramEnd, i)));
    }
    const rest = reference.decode(lenField(1, Buffer.concat(spans))).timeseries[0];
    timeseries.push({ labels, samples, exemplars: rest?.exemplars ?? [], histograms: rest?.histograms ?? [] });
  }
  const metadataSpans: Buffer[] = [];
  for (let m = 0; m < batch.metadataCount; m++) {
    metadataSpans.push(buf.subarray(at(batch.metadataStart, m), at(batch.metadataEnd, m)));
  }
  return { timeseries, metadata: reference.decode(Buffer.concat(metadataSpans)).metadata };
}

/**
 * The bits of sample `index`'s value, read from the 8 bytes after the value tag (0x09) inside
 * the sample's field span; the last occurrence wins, as in protobuf; absent means 0.0.
 */
export function sampleValueBits(batch: WireBatch, index: number): string {
  const buf = batch.buf;
  const end = at(batch.sampleEnd, index);
  let pos = at(batch.sampleStart, index) + 1; // past the field tag 0x12
  pos = skipVarintForTest(buf, pos); // past the length
  let bits = '0000000000000000';
  while (pos < end) {
    const tag = readVarintForTest(buf, pos);
    pos = tag.next;
    const wireType = Number(tag.value & 7n);
    if (tag.value === 0x09n) bits = buf.readBigUInt64LE(pos).toString(16).padStart(16, '0');
    if (wireType === 0) pos = skipVarintForTest(buf, pos);
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = readVarintForTest(buf, pos);
      pos = length.next + Number(length.value);
    } else throw new Error(`unexpected wire type ${wireType} in a sample the decoder accepted`);
  }
  return bits;
}

/** Decodes with tributary's decoder into a fresh batch and returns the view. */
export function decodeView(bytes: Buffer): ViewRequest {
  const batch = new WireBatch();
  decodeWriteRequest(bytes, batch);
  return batchView(batch);
}

function at(array: Uint32Array | Float64Array, index: number): number {
  const value = array[index];
  if (value === undefined) throw new Error(`index ${index} out of range`);
  return value;
}

// ---- golden captures ----

export const CAPTURES = ['req-001', 'req-002', 'req-005'] as const;

/** The compressed body of a capture from test/fixtures/prometheus-2.42-agent. */
export function readCapture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/prometheus-2.42-agent/${name}.bin`, import.meta.url));
}

/** The decompressed body (the protobuf WriteRequest) of a capture. */
export function readCaptureProtobuf(name: string): Buffer {
  return decompressBody(readCapture(name), 64 * 1024 * 1024);
}

// ---- a hand-written protobuf builder (BigInt, independent of src/wire/varint.ts) ----

export type Bytes = Uint8Array | readonly number[];

/** An unsigned varint; negative numbers are taken as int64 (two's complement, 10 bytes). */
export function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/** zigzag (sint32 / sint64). */
export function zigzag(value: number | bigint): bigint {
  const v = BigInt(value);
  return v >= 0n ? v * 2n : -v * 2n - 1n;
}

export function tag(fieldNumber: number, wireType: number): Buffer {
  return varint(BigInt(fieldNumber) * 8n + BigInt(wireType));
}

export function concat(...parts: Bytes[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

export function varintField(fieldNumber: number, value: number | bigint): Buffer {
  return concat(tag(fieldNumber, 0), varint(value));
}

/** A 64-bit field holding a double, or raw bits when given a bigint. */
export function fixed64Field(fieldNumber: number, value: number | bigint): Buffer {
  const bytes = Buffer.alloc(8);
  if (typeof value === 'bigint') bytes.writeBigUInt64LE(value);
  else bytes.writeDoubleLE(value);
  return concat(tag(fieldNumber, 1), bytes);
}

export function fixed32Field(fieldNumber: number, value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value >>> 0);
  return concat(tag(fieldNumber, 5), bytes);
}

export function lenField(fieldNumber: number, body: Bytes | string): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  return concat(tag(fieldNumber, 2), varint(bytes.length), bytes);
}

/** A Label message body. */
export function label(name: string, value: string): Buffer {
  return concat(lenField(1, name), lenField(2, value));
}

/** A Sample message body. */
export function sample(value: number | bigint, timestampMs: number | bigint): Buffer {
  return concat(fixed64Field(1, value), varintField(2, timestampMs));
}

function readVarintForTest(buf: Buffer, pos: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint in test data');
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return { value, next: pos };
    shift += 7n;
  }
}

function skipVarintForTest(buf: Buffer, pos: number): number {
  return readVarintForTest(buf, pos).next;
}
