/**
 * The RW 1.0 encoder: verbatim copies, series rebuilt from parts, added labels, sample filtering
 * by timestamp, stale markers, and what it refuses.
 */
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/errors.js';
import { WireBatch } from '../../src/model/batch.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { WriteRequestEncoder } from '../../src/wire/rw1-encode.js';
import { doubleBits, doubleFromBits, reference, type RefWriteRequestInput } from '../support/reference-codec.js';
import { concat, decodeView, label, lenField, readCaptureProtobuf, referenceView, sample, varintField } from './wire-helpers.js';

const STALE_MARKER = 0x7ff0000000000002n;

function decoded(bytes: Buffer): WireBatch {
  const batch = new WireBatch();
  decodeWriteRequest(bytes, batch);
  return batch;
}

/** Rebuilds every series of `batch` from its parts, calling `extra` between labels and samples. */
function rebuild(batch: WireBatch, encoder = new WriteRequestEncoder(), maxTimestampMs = Infinity): Buffer {
  encoder.reset();
  for (let s = 0; s < batch.seriesCount; s++) {
    encoder.beginSeries();
    const first = batch.seriesLabelFirst[s] ?? 0;
    for (let l = first; l < first + (batch.seriesLabelCount[s] ?? 0); l++) encoder.addBatchLabel(batch, l);
    encoder.addSamples(batch, s, maxTimestampMs);
    encoder.addExemplars(batch, s);
    encoder.addHistograms(batch, s);
    encoder.endSeries();
  }
  for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
  return Buffer.from(encoder.finish());
}

const REQUEST: RefWriteRequestInput = {
  timeseries: [
    {
      labels: [
        { name: '__name__', value: 'rpc_duration_seconds' },
        { name: 'instance', value: 'a:9100' },
        { name: 'job', value: 'node' },
      ],
      samples: [
        { value: 1, timestamp: 1000 },
        { value: 2, timestamp: 2000 },
        { value: 3, timestamp: 3000 },
      ],
      exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 0.5, timestamp: 1500 }],
      histograms: [
        { count_int: 3, sum: 1.5, schema: 0, positive_spans: [{ offset: -1, length: 2 }], positive_deltas: [1, 1], timestamp: 2500 },
        { count_float: 2.5, positive_spans: [{ offset: 0, length: 1 }], positive_counts: [2.5], timestamp: -20 },
      ],
    },
    { labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: -5 }] },
  ],
  metadata: [{ type: 3, metric_family_name: 'rpc_duration_seconds', help: 'RPC latency.', unit: 'seconds' }],
};

describe('WriteRequestEncoder', () => {
  it('rebuilds series from labels, samples, exemplars and histograms to the same content', () => {
    const input = reference.encode(REQUEST);
    const output = rebuild(decoded(input));
    expect(reference.decode(output)).toEqual(reference.decode(input));
    expect(decodeView(output)).toEqual(referenceView(input));
  });

  it('copies whole series verbatim, unknown fields included', () => {
    const series = concat(lenField(1, label('__name__', 'x')), varintField(99, 7), lenField(2, concat(sample(1, 1), varintField(50, 1))));
    const input = concat(lenField(1, series), lenField(1, series));
    const batch = decoded(input);
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.copySeries(batch, 1);
    expect(encoder.finish().equals(lenField(1, series))).toBe(true);
  });

  it('writes an added label where it is called, between the batch\'s labels', () => {
    const batch = decoded(reference.encode(REQUEST));
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.beginSeries();
    encoder.addBatchLabel(batch, 0); // __name__
    encoder.addLabel(Buffer.from('cluster'), Buffer.from('edge-ä'));
    encoder.addBatchLabel(batch, 1); // instance
    encoder.addBatchLabel(batch, 2); // job
    encoder.addSamples(batch, 0, Infinity);
    encoder.endSeries();
    const series = reference.decode(encoder.finish()).timeseries[0];
    expect(series?.labels).toEqual([
      { name: '__name__', value: 'rpc_duration_seconds' },
      { name: 'cluster', value: 'edge-ä' },
      { name: 'instance', value: 'a:9100' },
      { name: 'job', value: 'node' },
    ]);
    expect(series?.samples.map((s) => s.timestamp)).toEqual(['1000', '2000', '3000']);
  });

  it.each([
    { name: 'long enough to need two-byte lengths', value: 'v'.repeat(200) },
    { name: 'long enough to need three-byte lengths', value: 'w'.repeat(20_000) },
    { name: 'empty (written as an absent field, as Go does)', value: '' },
  ])('writes labels $name', ({ value }) => {
    const encoder = new WriteRequestEncoder(16);
    encoder.reset();
    encoder.beginSeries();
    encoder.addLabel(Buffer.from('name'), Buffer.from(value));
    encoder.endSeries();
    const output = encoder.finish();
    expect(reference.decode(output).timeseries[0]?.labels).toEqual([{ name: 'name', value }]);
    // Minimal length prefixes: the same bytes protobufjs writes when the empty value is left out.
    const expected = reference.encode({ timeseries: [{ labels: [value === '' ? { name: 'name' } : { name: 'name', value }] }] });
    expect(output.equals(expected)).toBe(true);
  });

  it.each([
    { name: 'before every sample keeps none', maxTimestampMs: -Infinity, kept: [] },
    { name: 'at the first sample keeps it alone', maxTimestampMs: 1000, kept: ['1000'] },
    { name: 'between samples keeps the earlier ones', maxTimestampMs: 2999, kept: ['1000', '2000'] },
    { name: 'after every sample keeps them all', maxTimestampMs: Infinity, kept: ['1000', '2000', '3000'] },
  ])('a maximum timestamp $name', ({ maxTimestampMs, kept }) => {
    const batch = decoded(reference.encode(REQUEST));
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.beginSeries();
    encoder.addBatchLabel(batch, 0);
    expect(encoder.addSamples(batch, 0, maxTimestampMs)).toBe(kept.length);
    encoder.endSeries();
    expect(reference.decode(encoder.finish()).timeseries[0]?.samples.map((s) => s.timestamp)).toEqual(kept);
  });

  it('filters samples that are not adjacent on the wire (interleaved with other fields)', () => {
    const series = concat(
      lenField(2, sample(1, 10)),
      lenField(1, label('__name__', 'x')),
      lenField(2, sample(2, 20)),
      lenField(3, concat(varintField(3, 15))),
      lenField(2, sample(3, 30)),
      lenField(2, sample(4, 40)),
    );
    const batch = decoded(lenField(1, series));
    for (const [maxTimestampMs, expected] of [
      [Infinity, ['10', '20', '30', '40']],
      [30, ['10', '20', '30']],
      [25, ['10', '20']],
    ] as const) {
      const output = rebuild(batch, new WriteRequestEncoder(), maxTimestampMs);
      expect(reference.decode(output).timeseries[0]?.samples.map((s) => s.timestamp)).toEqual(expected);
      expect(reference.decode(output).timeseries[0]?.exemplars).toHaveLength(1);
    }
  });

  it('keeps the stale marker 0x7ff0000000000002 bit for bit through decode and both ways of encoding', () => {
    const input = lenField(1, concat(lenField(1, label('__name__', 'up')), lenField(2, sample(STALE_MARKER, 1000))));
    const batch = decoded(input);
    const copied = new WriteRequestEncoder();
    copied.reset();
    copied.copySeries(batch, 0);
    for (const output of [Buffer.from(copied.finish()), rebuild(batch)]) {
      expect(output.equals(input)).toBe(true);
      expect(decodeView(output).timeseries[0]?.samples[0]?.bits).toBe('7ff0000000000002');
      expect(doubleBits(reference.decode(output).timeseries[0]?.samples[0]?.value ?? 0)).toBe('7ff0000000000002');
    }
  });

  it('keeps a stale marker written by protobufjs bit for bit', () => {
    const input = reference.encode({ timeseries: [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ value: doubleFromBits(STALE_MARKER), timestamp: 5 }] }] });
    expect(decodeView(rebuild(decoded(input))).timeseries[0]?.samples[0]?.bits).toBe('7ff0000000000002');
  });

  it('combines series from two batches in one request', () => {
    const first = decoded(reference.encode(REQUEST));
    const second = decoded(reference.encode({ timeseries: [{ labels: [{ name: '__name__', value: 'other' }], samples: [{ value: 9, timestamp: 9 }] }] }));
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.copySeries(first, 1);
    encoder.beginSeries();
    encoder.addBatchLabel(second, 0);
    encoder.addSamples(second, 0, Infinity);
    encoder.endSeries();
    expect(reference.decode(encoder.finish()).timeseries.map((s) => s.labels[0]?.value)).toEqual(['up', 'other']);
  });

  it('starts over on reset(), reusing its buffer: an earlier finish() view then changes', () => {
    const batch = decoded(reference.encode(REQUEST));
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.copySeries(batch, 0);
    const firstView = encoder.finish();
    const firstCopy = Buffer.from(firstView);
    encoder.reset();
    encoder.copySeries(batch, 1);
    expect(encoder.lengthBytes).toBe((batch.seriesEnd[1] ?? 0) - (batch.seriesStart[1] ?? 0));
    expect(reference.decode(encoder.finish()).timeseries).toHaveLength(1);
    expect(firstView.equals(firstCopy)).toBe(false);
  });

  it('copies any selection of series and metadata, in any order, mixed with rebuilt series', () => {
    const raw = readCaptureProtobuf('req-001');
    const batch = decoded(raw);
    const all = reference.decode(raw).timeseries;
    const encoder = new WriteRequestEncoder(64);
    encoder.reset();
    const plan: { series: number; rebuilt: boolean }[] = [
      { series: 5, rebuilt: false },
      { series: 6, rebuilt: false },
      { series: 7, rebuilt: true },
      { series: 8, rebuilt: false },
      { series: 100, rebuilt: false },
      { series: 3, rebuilt: true },
      { series: 4, rebuilt: false },
      { series: 499, rebuilt: false },
    ];
    let expectedBytes = 0;
    for (const { series, rebuilt } of plan) {
      if (rebuilt) {
        encoder.beginSeries();
        const first = batch.seriesLabelFirst[series] ?? 0;
        for (let l = first; l < first + (batch.seriesLabelCount[series] ?? 0); l++) encoder.addBatchLabel(batch, l);
        encoder.addSamples(batch, series, Infinity);
        encoder.endSeries();
      } else {
        encoder.copySeries(batch, series);
      }
      expectedBytes += (batch.seriesEnd[series] ?? 0) - (batch.seriesStart[series] ?? 0);
      expect(encoder.lengthBytes).toBe(expectedBytes);
    }
    const meta = decoded(readCaptureProtobuf('req-005'));
    encoder.copyMetadata(meta, 10);
    encoder.copyMetadata(meta, 11);
    encoder.copyMetadata(meta, 2);
    const output = reference.decode(encoder.finish());
    expect(output.timeseries).toEqual(plan.map(({ series }) => all[series]));
    const allMetadata = reference.decode(readCaptureProtobuf('req-005')).metadata;
    expect(output.metadata).toEqual([allMetadata[10], allMetadata[11], allMetadata[2]]);
  });

  it('re-encodes labels that arrived in another form into the canonical form protobufjs writes', () => {
    const series = concat(
      lenField(1, concat(lenField(2, 'v1'), lenField(1, 'b'))), // value before name
      lenField(1, concat(lenField(1, 'a'), lenField(2, 'x'.repeat(150)))), // two-byte lengths
      lenField(1, concat(lenField(1, 'c'), varintField(9, 1), lenField(2, 'v3'))), // an unknown field inside
      lenField(1, concat(lenField(1, 'd'), lenField(2, ''))), // an explicit empty value
      lenField(2, sample(1, 5)),
    );
    const batch = decoded(lenField(1, series));
    const expected = reference.encode({
      timeseries: [
        {
          labels: [{ name: 'b', value: 'v1' }, { name: 'a', value: 'x'.repeat(150) }, { name: 'c', value: 'v3' }, { name: 'd' }],
          samples: [{ value: 1, timestamp: 5 }],
        },
      ],
    });
    expect(rebuild(batch).equals(expected)).toBe(true);
  });

  it('writes a series with an injected label as protobufjs would encode it, byte for byte', () => {
    const input = reference.encode(REQUEST);
    const batch = decoded(input);
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    encoder.beginSeries();
    encoder.addBatchLabel(batch, 0);
    encoder.addLabel(Buffer.from('cluster'), Buffer.from('edge-a'));
    encoder.addBatchLabel(batch, 1);
    encoder.addBatchLabel(batch, 2);
    encoder.addSamples(batch, 0, 2000);
    encoder.addExemplars(batch, 0);
    encoder.endSeries();
    const [first] = REQUEST.timeseries ?? [];
    const expected = reference.encode({
      timeseries: [
        {
          labels: [first?.labels?.[0] ?? {}, { name: 'cluster', value: 'edge-a' }, ...(first?.labels?.slice(1) ?? [])],
          samples: first?.samples?.slice(0, 2) ?? [],
          exemplars: first?.exemplars ?? [],
        },
      ],
    });
    expect(Buffer.from(encoder.finish()).equals(expected)).toBe(true);
  });

  it('writes an empty request when given nothing', () => {
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    expect(encoder.finish().length).toBe(0);
  });

  const misuse: { name: string; run: (encoder: WriteRequestEncoder, batch: WireBatch) => void }[] = [
    { name: 'beginSeries() twice', run: (e) => {
        e.beginSeries();
        e.beginSeries();
      } },
    { name: 'endSeries() without beginSeries()', run: (e) => e.endSeries() },
    { name: 'addLabel() outside a series', run: (e) => e.addLabel(Buffer.from('a'), Buffer.from('b')) },
    { name: 'addBatchLabel() outside a series', run: (e, b) => e.addBatchLabel(b, 0) },
    { name: 'addSamples() outside a series', run: (e, b) => e.addSamples(b, 0, Infinity) },
    { name: 'addExemplars() outside a series', run: (e, b) => e.addExemplars(b, 0) },
    { name: 'addHistograms() outside a series', run: (e, b) => e.addHistograms(b, 0) },
    { name: 'copySeries() inside a series', run: (e, b) => {
        e.beginSeries();
        e.copySeries(b, 0);
      } },
    { name: 'copyMetadata() inside a series', run: (e, b) => {
        e.beginSeries();
        e.copyMetadata(b, 0);
      } },
    { name: 'finish() inside a series', run: (e) => {
        e.beginSeries();
        e.finish();
      } },
  ];

  it.each(misuse)('refuses $name with an InternalError', ({ run }) => {
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    expect(() => run(encoder, decoded(reference.encode(REQUEST)))).toThrow(InternalError);
  });
});
