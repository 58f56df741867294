/**
 * The RW 1.0 decoder on constructed messages: every message type, both encodings of repeated
 * scalars, negative timestamps, unknown fields at every level, and malformed input of every kind.
 */
import { describe, expect, it } from 'vitest';
import { BadPayloadError } from '../../src/errors.js';
import { WireBatch } from '../../src/model/batch.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { reference, referenceUnpacked, type RefWriteRequestInput } from '../support/reference-codec.js';
import {
  batchView,
  concat,
  decodeView,
  fixed32Field,
  fixed64Field,
  label,
  lenField,
  referenceView,
  sample,
  tag,
  varint,
  varintField,
  zigzag,
} from './wire-helpers.js';

const STALE_MARKER_BITS = 0x7ff0000000000002n;

/** A request with one of everything, as protobufjs encodes it. */
const RICH_REQUEST: RefWriteRequestInput = {
  timeseries: [
    {
      labels: [
        { name: '__name__', value: 'http_request_duration_seconds' },
        { name: 'cluster', value: 'edge-a' },
        { name: 'path', value: '/größe/日本' },
      ],
      samples: [
        { value: 0.25, timestamp: -86_400_000 },
        { value: 1.5, timestamp: 1_700_000_000_000 },
      ],
      exemplars: [
        { labels: [{ name: 'trace_id', value: '4bf92f3577b34da6' }], value: 0.31, timestamp: 1_699_999_999_000 },
        { value: 7, timestamp: -5 },
      ],
      histograms: [
        {
          // An integer histogram: counts as deltas, spans with a negative first offset.
          count_int: 12,
          sum: 18.4,
          schema: 3,
          zero_threshold: 1e-128,
          zero_count_int: 2,
          negative_spans: [{ offset: -2, length: 2 }],
          negative_deltas: [1, -1],
          positive_spans: [
            { offset: 0, length: 2 },
            { offset: 3, length: 1 },
          ],
          positive_deltas: [3, 2, '-4'],
          reset_hint: 2,
          timestamp: 1_700_000_000_500,
        },
        {
          // A float histogram with custom buckets (schema -53, added after 2.42).
          count_float: 4.5,
          sum: -2,
          schema: -53,
          zero_count_float: 0.5,
          positive_spans: [{ offset: 0, length: 3 }],
          positive_counts: [1.5, 2, 0.5],
          negative_counts: [0.25],
          custom_values: [0.1, 1, 10],
          reset_hint: 3,
          timestamp: -1,
        },
      ],
    },
    { labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: 42 }] },
    { labels: [{ name: '__name__', value: 'empty' }] },
  ],
  metadata: [
    { type: 1, metric_family_name: 'http_requests_total', help: 'Requests.', unit: '' },
    { type: 7, metric_family_name: 'feature', help: '', unit: 'info' },
  ],
};

describe('decoding constructed requests', () => {
  it('agrees with protobufjs on exemplars, integer and float native histograms and metadata', () => {
    const bytes = reference.encode(RICH_REQUEST);
    const view = decodeView(bytes);
    expect(view).toEqual(referenceView(bytes));
    expect(view.timeseries[0]?.histograms.map((h) => h.timestamp)).toEqual(['1700000000500', '-1']);
    expect(view.timeseries[0]?.exemplars).toHaveLength(2);
    expect(view.metadata).toHaveLength(2);
  });

  it('records histogram timestamps and each series\' largest sample or histogram timestamp', () => {
    const batch = new WireBatch();
    decodeWriteRequest(reference.encode(RICH_REQUEST), batch);
    expect(Array.from(batch.histogramTimestampMs.subarray(0, batch.histogramCount))).toEqual([1_700_000_000_500, -1]);
    expect(Array.from(batch.seriesMaxTimestampMs.subarray(0, batch.seriesCount))).toEqual([1_700_000_000_500, 42, -Infinity]);
    expect(Array.from(batch.seriesSampleCount.subarray(0, 3))).toEqual([2, 1, 0]);
    expect(Array.from(batch.seriesExemplarCount.subarray(0, 3))).toEqual([2, 0, 0]);
    expect(Array.from(batch.seriesHistogramCount.subarray(0, 3))).toEqual([2, 0, 0]);
  });

  it('reads the same content from packed and unpacked repeated scalars', () => {
    const packed = reference.encode(RICH_REQUEST);
    const unpacked = referenceUnpacked.encode(RICH_REQUEST);
    expect(unpacked.equals(packed)).toBe(false);
    expect(decodeView(unpacked)).toEqual(decodeView(packed));
    expect(decodeView(unpacked)).toEqual(referenceView(unpacked));
  });

  it.each([
    { name: 'zero', timestampMs: 0 },
    { name: 'minus one', timestampMs: -1 },
    { name: 'a day before 1970', timestampMs: -86_400_000 },
    { name: 'the smallest safe integer', timestampMs: -Number.MAX_SAFE_INTEGER },
    { name: 'the largest safe integer', timestampMs: Number.MAX_SAFE_INTEGER },
    { name: '2^32 (crosses the 32-bit halves)', timestampMs: 2 ** 32 },
    { name: 'minus 2^32', timestampMs: -(2 ** 32) },
  ])('decodes the timestamp $name exactly, in samples and histograms', ({ timestampMs }) => {
    const batch = new WireBatch();
    decodeWriteRequest(
      reference.encode({ timeseries: [{ samples: [{ value: 1, timestamp: timestampMs }], histograms: [{ count_int: 1, timestamp: timestampMs }] }] }),
      batch,
    );
    expect(batch.sampleTimestampMs[0]).toBe(timestampMs);
    expect(batch.histogramTimestampMs[0]).toBe(timestampMs);
    expect(batch.seriesMaxTimestampMs[0]).toBe(timestampMs);
  });

  it.each([
    { name: 'without a timestamp field has timestamp 0', body: fixed64Field(1, 2.5), bits: '4004000000000000', timestamp: 0 },
    { name: 'without a value field has value 0.0', body: varintField(2, 1000), bits: '0000000000000000', timestamp: 1000 },
    { name: 'with its fields in reverse order decodes the same', body: concat(varintField(2, 7), fixed64Field(1, 1)), bits: '3ff0000000000000', timestamp: 7 },
    { name: 'with a repeated timestamp keeps the last one', body: concat(varintField(2, 7), varintField(2, -9)), bits: '0000000000000000', timestamp: -9 },
    { name: 'holding the stale marker keeps its bits', body: sample(STALE_MARKER_BITS, 5), bits: '7ff0000000000002', timestamp: 5 },
    { name: 'with a padded (non-minimal) timestamp varint decodes it', body: concat(tag(2, 0), [0x85, 0x80, 0x80, 0x00]), bits: '0000000000000000', timestamp: 5 },
  ])('a sample $name', ({ body, bits, timestamp }) => {
    const bytes = lenField(1, lenField(2, body));
    const view = decodeView(bytes);
    expect(view.timeseries[0]?.samples).toEqual([{ bits, timestamp: String(timestamp) }]);
    expect(view).toEqual(referenceView(bytes));
  });

  it.each([
    { name: 'an absent value is the empty string', body: lenField(1, 'job'), expected: { name: 'job', value: '' } },
    { name: 'an absent name is the empty string', body: lenField(2, 'x'), expected: { name: '', value: 'x' } },
    { name: 'value before name decodes the same', body: concat(lenField(2, 'v'), lenField(1, 'n')), expected: { name: 'n', value: 'v' } },
    { name: 'a repeated name keeps the last one', body: concat(lenField(1, 'a'), lenField(1, 'b'), lenField(2, 'v')), expected: { name: 'b', value: 'v' } },
    { name: 'a value of 300 bytes has a two-byte length', body: label('big', 'x'.repeat(300)), expected: { name: 'big', value: 'x'.repeat(300) } },
    { name: 'a second value after a name-value pair wins', body: concat(label('n', 'v'), lenField(2, 'w')), expected: { name: 'n', value: 'w' } },
    { name: 'an unknown field after a name-value pair is skipped', body: concat(label('n', 'v'), varintField(9, 1)), expected: { name: 'n', value: 'v' } },
  ])('a label: $name', ({ body, expected }) => {
    const bytes = lenField(1, lenField(1, body));
    expect(decodeView(bytes).timeseries[0]?.labels).toEqual([expected]);
    expect(decodeView(bytes)).toEqual(referenceView(bytes));
  });

  it('decodes an empty body as an empty request', () => {
    const batch = new WireBatch();
    decodeWriteRequest(Buffer.alloc(0), batch);
    expect([batch.seriesCount, batch.metadataCount]).toEqual([0, 0]);
  });

  it('grows every array of the batch past its initial capacity and keeps earlier entries', () => {
    const request: RefWriteRequestInput = {
      timeseries: Array.from({ length: 300 }, (_, s) => ({
        labels: Array.from({ length: 6 }, (_, l) => ({ name: `l${l}`, value: `s${s}` })),
        samples: Array.from({ length: 7 }, (_, i) => ({ value: i, timestamp: s * 1000 + i })),
        exemplars: s % 2 === 0 ? [{ value: s, timestamp: s }] : [],
        histograms: s % 3 === 0 ? [{ count_int: s, timestamp: s * 1000 + 99 }] : [],
      })),
      metadata: Array.from({ length: 40 }, (_, m) => ({ type: 2, metric_family_name: `m${m}` })),
    };
    const bytes = reference.encode(request);
    const batch = new WireBatch();
    decodeWriteRequest(bytes, batch);
    expect([batch.seriesCount, batch.labelCount, batch.sampleCount, batch.exemplarCount, batch.histogramCount, batch.metadataCount]).toEqual([
      300, 1800, 2100, 150, 100, 40,
    ]);
    expect(batchView(batch)).toEqual(referenceView(bytes));
    expect(batch.seriesMaxTimestampMs[3]).toBe(3099);
    expect(batch.seriesMaxTimestampMs[4]).toBe(4006);
  });

  it('decodes a megabyte of empty series in linear time', () => {
    const bytes = Buffer.alloc(1 << 20);
    for (let i = 0; i < bytes.length; i += 2) bytes[i] = 0x0a; // 0x0a 0x00: an empty TimeSeries
    const batch = new WireBatch();
    const started = performance.now();
    decodeWriteRequest(bytes, batch);
    expect(batch.seriesCount).toBe(1 << 19);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('unknown fields', () => {
  /** Unknown fields of every wire type the decoder must skip, with 1-, 2- and 5-byte tags. */
  const UNKNOWN = concat(
    varintField(17, 150), // 17 and up: unknown in every message, Histogram's 16 included
    varintField(300, -1), // a 10-byte varint
    fixed64Field(18, 3.5),
    fixed32Field(19, 7),
    lenField(20, 'ignored'),
    lenField(21, lenField(1, 'a nested message')),
    lenField(536_870_911, ''), // the largest field number
  );

  type Level = 'WriteRequest' | 'TimeSeries' | 'Label' | 'Sample' | 'Exemplar' | 'ExemplarLabel' | 'Histogram' | 'BucketSpan' | 'MetricMetadata';

  /** The same request, with UNKNOWN added at the start and end of the messages at `level`. */
  function build(level: Level | undefined): Buffer {
    const extra = (at: Level, ...body: Buffer[]): Buffer => (at === level ? concat(UNKNOWN, ...body, UNKNOWN) : concat(...body));
    const spanBody = (offset: number, length: number): Buffer => extra('BucketSpan', varintField(1, zigzag(offset)), varintField(2, length));
    const histogram = extra(
      'Histogram',
      varintField(1, 5),
      fixed64Field(3, 3.5),
      varintField(4, zigzag(-1)),
      fixed64Field(5, 0.001),
      varintField(6, 1),
      lenField(8, spanBody(-2, 1)),
      lenField(9, varint(zigzag(1))),
      lenField(11, spanBody(0, 2)),
      lenField(12, concat(varint(zigzag(2)), varint(zigzag(-1)))),
      varintField(14, 2),
      varintField(15, 3000),
    );
    const series = extra(
      'TimeSeries',
      lenField(1, extra('Label', label('__name__', 'up'))),
      lenField(1, extra('Label', label('job', 'node'))),
      lenField(2, extra('Sample', sample(1.5, 1000))),
      lenField(2, extra('Sample', sample(STALE_MARKER_BITS, 2000))),
      lenField(3, extra('Exemplar', lenField(1, extra('ExemplarLabel', label('trace_id', 'abc'))), fixed64Field(2, 2), varintField(3, 1500))),
      lenField(4, histogram),
    );
    const metadata = extra('MetricMetadata', varintField(1, 1), lenField(2, 'up'), lenField(4, 'help text'));
    return extra('WriteRequest', lenField(1, series), lenField(3, metadata));
  }

  const levels: Level[] = ['WriteRequest', 'TimeSeries', 'Label', 'Sample', 'Exemplar', 'ExemplarLabel', 'Histogram', 'BucketSpan', 'MetricMetadata'];

  it.each(levels)('are skipped in %s, leaving the content as without them', (level) => {
    const clean = build(undefined);
    const withUnknown = build(level);
    expect(withUnknown.length).toBeGreaterThan(clean.length);
    const view = decodeView(withUnknown);
    expect(view).toEqual(decodeView(clean));
    expect(view).toEqual(referenceView(withUnknown));
    expect(view.timeseries[0]?.samples.map((s) => s.bits)).toEqual(['3ff8000000000000', '7ff0000000000002']);
  });

  it('are also skipped in the reserved WriteRequest field 2 (Cortex\'s request source)', () => {
    const bytes = concat(varintField(2, 1), build(undefined));
    expect(decodeView(bytes)).toEqual(decodeView(build(undefined)));
  });
});

describe('malformed input', () => {
  const series = (body: Buffer): Buffer => lenField(1, body);
  const histogram = (body: Buffer): Buffer => series(lenField(4, body));

  const cases: { name: string; bytes: Buffer; message: RegExp }[] = [
    { name: 'a truncated tag', bytes: Buffer.from([0x80]), message: /^bad protobuf: WriteRequest at byte 0: truncated or overlong field tag$/ },
    { name: 'field number 0', bytes: Buffer.from([0x00]), message: /^bad protobuf: WriteRequest at byte 0: invalid field number 0$/ },
    { name: 'field number 0 in a series', bytes: series(Buffer.from([0x02, 0x00])), message: /^bad protobuf: TimeSeries at byte 2: invalid field number 0$/ },
    { name: 'a field number over 2^29 - 1', bytes: concat(varint(2n ** 32n), Buffer.from([0])), message: /WriteRequest at byte 0: field number 536870912 is over the maximum/ },
    { name: 'a start-group wire type', bytes: concat(tag(5, 3), tag(5, 4)), message: /^bad protobuf: WriteRequest field 5 at byte 0: group wire type 3 is not supported$/ },
    { name: 'an end-group wire type in a label', bytes: series(lenField(1, tag(7, 4))), message: /^bad protobuf: Label field 7 at byte 4: group wire type 4 is not supported$/ },
    { name: 'wire type 6', bytes: tag(9, 6), message: /^bad protobuf: WriteRequest field 9 at byte 0: invalid wire type 6$/ },
    { name: 'wire type 6 for a known field', bytes: tag(3, 6), message: /^bad protobuf: WriteRequest\.metadata at byte 0: wire type 6 \(invalid 6\) where 2/ },
    { name: 'wire type 7 in a sample', bytes: series(lenField(2, tag(9, 7))), message: /^bad protobuf: Sample field 9 at byte 4: invalid wire type 7$/ },
    { name: 'timeseries as a varint', bytes: varintField(1, 5), message: /^bad protobuf: WriteRequest\.timeseries at byte 0: wire type 0 \(varint\) where 2 \(length-delimited\) is expected$/ },
    { name: 'metadata as a 64-bit value', bytes: fixed64Field(3, 1), message: /WriteRequest\.metadata at byte 0: wire type 1/ },
    { name: 'a series longer than the body', bytes: Buffer.from([0x0a, 0x05, 0x0a]), message: /^bad protobuf: WriteRequest\.timeseries at byte 0: length 5 runs past the end of the message \(1 bytes left\)$/ },
    {
      name: 'a label longer than its series',
      bytes: series(concat(lenField(1, label('a', 'b')), [0x0a, 0x63, 0x0a, 0x00])),
      message: /^bad protobuf: TimeSeries\.labels at byte 10: length 99 runs past the end of the message \(2 bytes left\)$/,
    },
    { name: 'garbage after a label\'s name and value', bytes: series(lenField(1, concat(label('n', 'v'), [0x07]))), message: /^bad protobuf: Label at byte 10: invalid field number 0$/ },
    { name: 'garbage after a sample\'s value and timestamp', bytes: series(lenField(2, concat(sample(1, 5), [0x0f]))), message: /^bad protobuf: Sample\.value at byte 15: wire type 7 \(invalid 7\) where 1 \(64-bit\) is expected$/ },
    { name: 'a truncated length', bytes: Buffer.from([0x0a, 0xff]), message: /WriteRequest\.timeseries at byte 0: truncated or overlong length/ },
    { name: 'samples as a varint', bytes: series(varintField(2, 1)), message: /TimeSeries\.samples at byte 2: wire type 0/ },
    { name: 'histograms as a 32-bit value', bytes: series(fixed32Field(4, 1)), message: /TimeSeries\.histograms at byte 2: wire type 5/ },
    { name: 'a label name as a varint', bytes: series(lenField(1, varintField(1, 3))), message: /Label\.name at byte 4: wire type 0/ },
    { name: 'a sample value as a varint', bytes: series(lenField(2, varintField(1, 3))), message: /^bad protobuf: Sample\.value at byte 4: wire type 0 \(varint\) where 1 \(64-bit\) is expected$/ },
    { name: 'a truncated sample value', bytes: series(lenField(2, Buffer.from([0x09, 1, 2, 3]))), message: /Sample\.value at byte 4: truncated 64-bit value/ },
    { name: 'a sample timestamp as a 64-bit value', bytes: series(lenField(2, fixed64Field(2, 1))), message: /Sample\.timestamp at byte 4: wire type 1/ },
    { name: 'a truncated sample timestamp', bytes: series(lenField(2, Buffer.from([0x10, 0xff, 0xff]))), message: /Sample\.timestamp at byte 4: truncated or overlong varint/ },
    { name: 'an 11-byte sample timestamp', bytes: series(lenField(2, concat(tag(2, 0), Buffer.alloc(10, 0xff), [0x01]))), message: /Sample\.timestamp at byte 4: truncated or overlong varint/ },
    { name: 'an exemplar value as a varint', bytes: series(lenField(3, varintField(2, 1))), message: /Exemplar\.value at byte 4: wire type 0/ },
    { name: 'an exemplar label value as a 32-bit value', bytes: series(lenField(3, lenField(1, fixed32Field(2, 1)))), message: /Label\.value at byte 6: wire type 5/ },
    { name: 'a histogram count as a 64-bit value', bytes: histogram(fixed64Field(1, 1)), message: /Histogram\.count_int at byte 4: wire type 1/ },
    { name: 'histogram deltas as 64-bit values', bytes: histogram(fixed64Field(9, 1)), message: /Histogram\.negative_deltas at byte 4: wire type 1 \(64-bit\) where 0 \(varint\)/ },
    { name: 'packed deltas ending in a truncated varint', bytes: histogram(lenField(12, [0x02, 0x80])), message: /Histogram\.positive_deltas at byte 4: packed varints end in a truncated varint/ },
    { name: 'packed counts not a multiple of 8 bytes', bytes: histogram(lenField(13, Buffer.alloc(7))), message: /Histogram\.positive_counts at byte 4: packed doubles take 7 bytes, not a multiple of 8/ },
    { name: 'histogram counts as a varint', bytes: histogram(varintField(10, 1)), message: /Histogram\.negative_counts at byte 4: wire type 0/ },
    { name: 'custom values as a 32-bit value', bytes: histogram(fixed32Field(16, 1)), message: /Histogram\.custom_values at byte 4: wire type 5/ },
    { name: 'a truncated histogram timestamp', bytes: histogram(Buffer.from([0x78, 0x80])), message: /Histogram\.timestamp at byte 4: truncated or overlong varint/ },
    { name: 'a bucket span offset as a 64-bit value', bytes: histogram(lenField(8, fixed64Field(1, 1))), message: /BucketSpan\.offset at byte 6: wire type 1/ },
    { name: 'a metadata help as a varint', bytes: lenField(3, varintField(4, 1)), message: /MetricMetadata\.help at byte 2: wire type 0/ },
    { name: 'a metadata type as a string', bytes: lenField(3, lenField(1, 'x')), message: /MetricMetadata\.type at byte 2: wire type 2/ },
    { name: 'a truncated unknown varint', bytes: Buffer.from([0x48, 0x80]), message: /WriteRequest field 9 at byte 0: truncated or overlong varint/ },
    { name: 'a truncated unknown 64-bit value', bytes: Buffer.from([0x49, 1, 2]), message: /WriteRequest field 9 at byte 0: truncated 64-bit value/ },
    { name: 'a truncated unknown 32-bit value', bytes: Buffer.from([0x4d, 1, 2]), message: /WriteRequest field 9 at byte 0: truncated 32-bit value/ },
    { name: 'an unknown field longer than the body', bytes: Buffer.from([0x4a, 0x7f]), message: /WriteRequest field 9 at byte 0: length 127 runs past the end/ },
    { name: 'a length of 2^60', bytes: concat([0x0a], varint(2n ** 60n)), message: /WriteRequest\.timeseries at byte 0: length 1152921504606847000 runs past the end/ },
  ];

  it.each(cases)('rejects $name with a BadPayloadError naming the field and offset', ({ bytes, message }) => {
    let caught: unknown;
    try {
      decodeWriteRequest(bytes, new WireBatch());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BadPayloadError);
    const error = caught as BadPayloadError;
    expect(error.reason).toBe('bad_protobuf');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
    expect(error.message.length).toBeLessThan(1024);
  });

  it('leaves the batch usable for the next request after a failure', () => {
    const batch = new WireBatch();
    expect(() => decodeWriteRequest(Buffer.from([0x0a, 0x05, 0x0a]), batch)).toThrow(BadPayloadError);
    const good = reference.encode(RICH_REQUEST);
    decodeWriteRequest(good, batch);
    expect(batchView(batch)).toEqual(referenceView(good));
  });
});
