/**
 * Property tests of the RW 1.0 codec: random requests agree with protobufjs both ways, and random,
 * truncated or corrupted bytes are either decoded (and then agree with protobufjs) or rejected
 * with BadPayloadError('bad_protobuf'); never another error, never a hang.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPayloadError } from '../../src/errors.js';
import { WireBatch } from '../../src/model/batch.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { WriteRequestEncoder } from '../../src/wire/rw1-encode.js';
import {
  doubleFromBits,
  reference,
  referenceUnpacked,
  type RefHistogramInput,
  type RefWriteRequestInput,
} from '../support/reference-codec.js';
import { batchView, readCaptureProtobuf, referenceView, type ViewRequest } from './wire-helpers.js';

// ---- arbitraries: random WriteRequests within the schema ----

const text = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.string({ unit: 'grapheme-ascii', maxLength }));
const labelArb = fc.record({ name: text(12), value: text(40) });
const timestampArb = fc.maxSafeInteger();
const int64Arb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
const uint64Arb = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const valueArb = fc.oneof(
  fc.double(),
  fc.constant(doubleFromBits(0x7ff0000000000002n)), // stale marker
  fc.constant(doubleFromBits(0x7ff8000000000001n)), // Prometheus's NaN
);
const spanArb = fc.record({ offset: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), length: fc.integer({ min: 0, max: 0xffffffff }) });
const spansArb = fc.array(spanArb, { maxLength: 3 });
const histogramCommon = {
  sum: fc.double(),
  schema: fc.integer({ min: -53, max: 8 }),
  zero_threshold: fc.double(),
  negative_spans: spansArb,
  positive_spans: spansArb,
  reset_hint: fc.integer({ min: 0, max: 3 }),
  timestamp: timestampArb,
};
const integerHistogramArb: fc.Arbitrary<RefHistogramInput> = fc.record(
  {
    ...histogramCommon,
    count_int: uint64Arb,
    zero_count_int: uint64Arb,
    negative_deltas: fc.array(int64Arb, { maxLength: 4 }),
    positive_deltas: fc.array(int64Arb, { maxLength: 4 }),
  },
  { requiredKeys: ['timestamp'] },
);
const floatHistogramArb: fc.Arbitrary<RefHistogramInput> = fc.record(
  {
    ...histogramCommon,
    count_float: fc.double(),
    zero_count_float: fc.double(),
    negative_counts: fc.array(fc.double(), { maxLength: 4 }),
    positive_counts: fc.array(fc.double(), { maxLength: 4 }),
    custom_values: fc.array(fc.double(), { maxLength: 3 }),
  },
  { requiredKeys: ['timestamp'] },
);
const seriesArb = fc.record({
  labels: fc.array(labelArb, { maxLength: 6 }),
  samples: fc.array(fc.record({ value: valueArb, timestamp: timestampArb }), { maxLength: 5 }),
  exemplars: fc.array(fc.record({ labels: fc.array(labelArb, { maxLength: 2 }), value: valueArb, timestamp: timestampArb }), { maxLength: 2 }),
  histograms: fc.array(fc.oneof(integerHistogramArb, floatHistogramArb), { maxLength: 2 }),
});
const requestArb: fc.Arbitrary<RefWriteRequestInput> = fc.record({
  timeseries: fc.array(seriesArb, { maxLength: 5 }),
  metadata: fc.array(fc.record({ type: fc.integer({ min: 0, max: 7 }), metric_family_name: text(20), help: text(40), unit: text(8) }), { maxLength: 3 }),
});
/** A random request, encoded packed (as protobufjs and Go do) or unpacked. */
const encodedRequestArb = fc.tuple(requestArb, fc.boolean()).map(([request, packed]) => (packed ? reference : referenceUnpacked).encode(request));

// ---- helpers ----

/** Decodes `bytes`: the batch when accepted, undefined when rejected with the one allowed error. */
function decodeOrReject(bytes: Buffer): WireBatch | undefined {
  const batch = new WireBatch();
  try {
    decodeWriteRequest(bytes, batch);
    return batch;
  } catch (err) {
    if (!(err instanceof BadPayloadError) || err.reason !== 'bad_protobuf' || !err.message.startsWith('bad protobuf: ')) {
      throw new Error(`decoder threw something other than BadPayloadError('bad_protobuf'): ${String(err)}`);
    }
    return undefined;
  }
}

/** Timestamps as the nearest double: past 2^53 (possible in corrupted input) the decoder rounds. */
function roundTimestamps(view: ViewRequest): ViewRequest {
  for (const series of view.timeseries) {
    for (const s of series.samples) s.timestamp = String(Number(s.timestamp));
  }
  return view;
}

/** When the decoder accepts corrupted bytes, protobufjs must read the same content from them. */
function expectAcceptedAgreesWithReference(bytes: Buffer, batch: WireBatch): void {
  expect(roundTimestamps(batchView(batch))).toEqual(roundTimestamps(referenceView(bytes)));
}

// ---- properties ----

describe('random requests encoded by protobufjs', () => {
  it('decode to exactly what protobufjs reads, timestamps and value bits included', () => {
    fc.assert(
      fc.property(encodedRequestArb, (bytes) => {
        const batch = new WireBatch();
        decodeWriteRequest(bytes, batch);
        const view = batchView(batch);
        expect(view).toEqual(referenceView(bytes));
        view.timeseries.forEach((series, s) => {
          const timestamps = [...series.samples.map((x) => Number(x.timestamp)), ...series.histograms.map((h) => Number(h.timestamp))];
          expect(batch.seriesMaxTimestampMs[s]).toBe(Math.max(-Infinity, ...timestamps));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('come back byte for byte from copied series and metadata, and with the same content when rebuilt', () => {
    const encoder = new WriteRequestEncoder(64);
    fc.assert(
      fc.property(encodedRequestArb, (bytes) => {
        const batch = new WireBatch();
        decodeWriteRequest(bytes, batch);

        encoder.reset();
        for (let s = 0; s < batch.seriesCount; s++) encoder.copySeries(batch, s);
        for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
        expect(encoder.finish().equals(bytes)).toBe(true);

        encoder.reset();
        for (let s = 0; s < batch.seriesCount; s++) {
          encoder.beginSeries();
          const first = batch.seriesLabelFirst[s] ?? 0;
          for (let l = first; l < first + (batch.seriesLabelCount[s] ?? 0); l++) encoder.addBatchLabel(batch, l);
          encoder.addSamples(batch, s, Infinity);
          encoder.addExemplars(batch, s);
          encoder.addHistograms(batch, s);
          encoder.endSeries();
        }
        for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
        const rebuilt = Buffer.from(encoder.finish());
        expect(reference.decode(rebuilt)).toEqual(reference.decode(bytes));
        expect(referenceView(rebuilt)).toEqual(referenceView(bytes));
      }),
      { numRuns: 200 },
    );
  });
});

describe('hostile input', () => {
  it('random bytes are decoded or rejected with bad_protobuf, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        decodeOrReject(Buffer.from(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('random protobuf-shaped bytes (known tags among noise) are decoded and agree with protobufjs, or rejected', () => {
    // Tags of known fields with every wire type, small lengths and noise reach the inner messages.
    const token = fc.oneof(
      fc.constantFrom(0x0a, 0x12, 0x1a, 0x22, 0x09, 0x10, 0x78, 0x42, 0x4a, 0x5a, 0x82, 0x01),
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0, max: 0xff }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(token, { maxLength: 120 }), (tokens) => {
        const bytes = Buffer.from(tokens);
        const batch = decodeOrReject(bytes);
        if (batch !== undefined) {
          accepted++;
          expectAcceptedAgreesWithReference(bytes, batch);
        }
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it.each(['req-001', 'req-002', 'req-005'])('every truncation of capture %s is decoded or rejected with bad_protobuf', (name) => {
    const raw = readCaptureProtobuf(name);
    let rejected = 0;
    fc.assert(
      fc.property(fc.nat({ max: raw.length }), (length) => {
        const bytes = raw.subarray(0, length);
        const batch = decodeOrReject(bytes);
        if (batch === undefined) rejected++;
        else expect(batch.seriesCount + batch.metadataCount).toBeLessThanOrEqual(500);
      }),
      { numRuns: 150 },
    );
    expect(rejected).toBeGreaterThan(0);
  });

  it.each(['req-001', 'req-002', 'req-005'])('bit flips in capture %s are decoded (agreeing with protobufjs) or rejected with bad_protobuf', (name) => {
    const raw = readCaptureProtobuf(name);
    let rejected = 0;
    fc.assert(
      fc.property(fc.array(fc.nat({ max: raw.length * 8 - 1 }), { minLength: 1, maxLength: 4 }), (bits) => {
        const bytes = Buffer.from(raw);
        for (const bit of bits) bytes[bit >>> 3] = (bytes[bit >>> 3] ?? 0) ^ (1 << (bit & 7));
        const batch = decodeOrReject(bytes);
        if (batch === undefined) rejected++;
        else expectAcceptedAgreesWithReference(bytes, batch);
      }),
      { numRuns: 60 },
    );
    expect(rejected).toBeGreaterThan(0);
  });

  it('corrupted random requests (a cut and a flipped byte) are decoded or rejected with bad_protobuf', () => {
    fc.assert(
      fc.property(encodedRequestArb, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (encoded, cut, at, mask) => {
        const bytes = Buffer.from(encoded.subarray(0, cut % (encoded.length + 1)));
        if (bytes.length > 0) bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ mask;
        const batch = decodeOrReject(bytes);
        if (batch !== undefined) expectAcceptedAgreesWithReference(bytes, batch);
      }),
      { numRuns: 300 },
    );
  });
});
