/**
 * Splitting a queued payload at series boundaries: the halves hold the original series in order,
 * byte for byte, metadata once (in the first half); one series cannot be split. Checked against
 * the protobufjs reference codec, on fixed and on random requests.
 */
import fc from 'fast-check';
import { uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { BadPayloadError } from '../../../src/errors.js';
import { payloadSeriesKeys, splitPayload, splitWriteRequest, summarizePayload } from '../../../src/forward/split.js';
import { compressBody } from '../../../src/wire/snappy.js';
import { doubleFromBits, reference, type RefTimeSeriesInput, type RefWriteRequestInput } from '../../support/reference-codec.js';
import { referenceView } from '../wire-helpers.js';

const STALE_NAN = doubleFromBits(0x7ff0000000000002n);

function payload(request: RefWriteRequestInput): Buffer {
  return compressBody(reference.encode(request));
}

function raw(body: Buffer): Buffer {
  return Buffer.from(uncompress(body));
}

function series(name: string, samples: number, extra: Partial<RefTimeSeriesInput> = {}): RefTimeSeriesInput {
  return {
    labels: [
      { name: '__name__', value: name },
      { name: 'job', value: 'node' },
    ],
    samples: Array.from({ length: samples }, (_, i) => ({ value: i === 0 ? STALE_NAN : i * 1.5, timestamp: 1_700_000_000_000 + i })),
    ...extra,
  };
}

const METADATA = [
  { type: 1, metric_family_name: 'm0', help: 'a counter', unit: '' },
  { type: 2, metric_family_name: 'm1', help: 'a gauge', unit: 'bytes' },
];

/** Split until nothing splits any more, depth first: the leaves in order. */
function leaves(body: Buffer): Buffer[] {
  const halves = splitPayload(body);
  if (halves === undefined) return [body];
  return [...leaves(halves[0]), ...leaves(halves[1])];
}

/**
 * The properties every split must have, checked against the reference codec: the halves hold the
 * original series in order, metadata only in the first half, and the bytes are the original ones
 * (series copied verbatim, so NaN payloads, exemplars and histograms survive).
 */
function expectFaithfulSplit(request: RefWriteRequestInput): void {
  const original = reference.encode(request);
  const view = referenceView(original);
  const halves = splitWriteRequest(compressBody(original));
  if (view.timeseries.length < 2) {
    expect(halves).toBeUndefined();
    return;
  }
  expect(halves).toBeDefined();
  const [first, second] = halves!;
  const firstView = referenceView(raw(first.body));
  const secondView = referenceView(raw(second.body));
  expect([...firstView.timeseries, ...secondView.timeseries]).toEqual(view.timeseries);
  expect(firstView.metadata).toEqual(view.metadata);
  expect(secondView.metadata).toEqual([]);
  // Balanced, and nothing empty.
  expect(first.series).toBe(Math.floor(view.timeseries.length / 2));
  expect(first.series + second.series).toBe(view.timeseries.length);
  expect(firstView.timeseries).toHaveLength(first.series);

  // Bytes: the original is its series then its metadata; the halves are the same series bytes.
  const metadataBytes = reference.encode({ metadata: request.metadata ?? [] });
  const seriesBytes = original.subarray(0, original.length - metadataBytes.length);
  const firstRaw = raw(first.body);
  const secondRaw = raw(second.body);
  expect(first.decodedBytes).toBe(firstRaw.length);
  expect(second.decodedBytes).toBe(secondRaw.length);
  expect(firstRaw.subarray(firstRaw.length - metadataBytes.length).equals(metadataBytes)).toBe(true);
  expect(Buffer.concat([firstRaw.subarray(0, firstRaw.length - metadataBytes.length), secondRaw]).equals(seriesBytes)).toBe(true);

  // Sample counts: float samples plus histogram samples, per half.
  const count = (ts: typeof view.timeseries): number => ts.reduce((n, s) => n + s.samples.length + s.histograms.length, 0);
  expect(first.samples).toBe(count(firstView.timeseries));
  expect(second.samples).toBe(count(secondView.timeseries));
}

describe('splitPayload', () => {
  it('splits at the middle series; the halves re-assemble to the original series in order', () => {
    const request: RefWriteRequestInput = {
      timeseries: [series('a', 3), series('b', 1), series('c', 2), series('d', 4), series('e', 1)],
      metadata: METADATA,
    };
    expectFaithfulSplit(request);
    const [first, second] = splitPayload(payload(request))!;
    expect(reference.decode(raw(first)).timeseries.map((s) => s.labels[0]?.value)).toEqual(['a', 'b']);
    expect(reference.decode(raw(second)).timeseries.map((s) => s.labels[0]?.value)).toEqual(['c', 'd', 'e']);
  });

  it('keeps the metadata once, in the first half', () => {
    const [first, second] = splitPayload(payload({ timeseries: [series('a', 1), series('b', 1)], metadata: METADATA }))!;
    expect(reference.decode(raw(first)).metadata).toEqual(METADATA);
    expect(reference.decode(raw(second)).metadata).toEqual([]);
  });

  it('copies exemplars and native histograms with their series', () => {
    expectFaithfulSplit({
      timeseries: [
        series('a', 1, { exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestamp: 5 }] }),
        series('h', 0, { histograms: [{ count_int: 3, sum: 2.5, schema: 3, positive_spans: [{ offset: 0, length: 2 }], positive_deltas: [1, 1], timestamp: 9 }] }),
        series('c', 2),
      ],
    });
  });

  it('cannot split a single series, with or without metadata, nor metadata alone or an empty request', () => {
    expect(splitPayload(payload({ timeseries: [series('a', 10)] }))).toBeUndefined();
    expect(splitPayload(payload({ timeseries: [series('a', 10)], metadata: METADATA }))).toBeUndefined();
    expect(splitPayload(payload({ metadata: METADATA }))).toBeUndefined();
    expect(splitPayload(payload({}))).toBeUndefined();
  });

  it('splits down to single series, each once and in order', () => {
    const names = Array.from({ length: 13 }, (_, i) => `s${i}`);
    const parts = leaves(payload({ timeseries: names.map((n) => series(n, 2)), metadata: METADATA }));
    expect(parts).toHaveLength(13);
    expect(parts.flatMap((p) => reference.decode(raw(p)).timeseries.map((s) => s.labels[0]?.value))).toEqual(names);
    expect(parts.map((p) => reference.decode(raw(p)).metadata.length)).toEqual([2, ...Array<number>(12).fill(0)]);
  });

  it('throws BadPayloadError on a payload that is not a snappy-compressed WriteRequest', () => {
    expect(() => splitPayload(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow(BadPayloadError);
    expect(() => splitPayload(compressBody(Buffer.from([0x0a, 0x05, 0x01])))).toThrow(BadPayloadError);
  });

  it('random requests: halves are faithful, and full bisection yields every series once, in order', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    const labelArb = fc.record({ name: text, value: text });
    const valueArb = fc.oneof(fc.double(), fc.constant(STALE_NAN));
    const seriesArb: fc.Arbitrary<RefTimeSeriesInput> = fc.record({
      labels: fc.array(labelArb, { maxLength: 4 }),
      samples: fc.array(fc.record({ value: valueArb, timestamp: fc.maxSafeInteger() }), { maxLength: 4 }),
      exemplars: fc.array(fc.record({ labels: fc.array(labelArb, { maxLength: 1 }), value: valueArb, timestamp: fc.maxSafeInteger() }), {
        maxLength: 1,
      }),
      histograms: fc.array(fc.record({ count_int: fc.nat(), sum: fc.double(), schema: fc.integer({ min: -4, max: 8 }), timestamp: fc.maxSafeInteger() }), {
        maxLength: 1,
      }),
    });
    const requestArb: fc.Arbitrary<RefWriteRequestInput> = fc.record({
      timeseries: fc.array(seriesArb, { maxLength: 12 }),
      metadata: fc.array(fc.record({ type: fc.integer({ min: 0, max: 7 }), metric_family_name: text, help: text, unit: text }), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(requestArb, (request) => {
        expectFaithfulSplit(request);
        const original = referenceView(reference.encode(request));
        const parts = leaves(payload(request));
        expect(parts).toHaveLength(Math.max(1, original.timeseries.length));
        expect(parts.flatMap((p) => referenceView(raw(p)).timeseries)).toEqual(original.timeseries);
        expect(parts.flatMap((p) => referenceView(raw(p)).metadata)).toEqual(original.metadata);
      }),
      { numRuns: 200 },
    );
  });
});

describe('summarizePayload and payloadSeriesKeys', () => {
  it('counts series, samples (histograms included) and metadata, and renders the first series', () => {
    const summary = summarizePayload(
      payload({
        timeseries: [series('a', 3), series('h', 0, { histograms: [{ count_int: 1, timestamp: 1 }, { count_int: 2, timestamp: 2 }] })],
        metadata: METADATA,
      }),
    );
    expect(summary).toEqual({ series: 2, samples: 5, metadata: 2, firstSeries: '{__name__="a", job="node"}' });
    expect(summarizePayload(payload({ metadata: METADATA })).firstSeries).toBeUndefined();
  });

  it('gives equal keys to equal label sets whatever their order, and different keys otherwise', () => {
    const keys = payloadSeriesKeys(
      payload({
        timeseries: [
          { labels: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] },
          { labels: [{ name: 'b', value: '2' }, { name: 'a', value: '1' }] },
          { labels: [{ name: 'a', value: '12' }] },
          { labels: [{ name: 'a1', value: '2' }] },
        ],
      }),
    );
    expect(keys[0]).toBe(keys[1]);
    expect(new Set(keys).size).toBe(3);
  });
});
