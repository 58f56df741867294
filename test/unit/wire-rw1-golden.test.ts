/**
 * Golden tests on real requests captured from a Prometheus 2.42 agent (test/fixtures): the
 * decoder must agree with protobufjs on every one, and re-encoding must give the bytes back.
 */
import { describe, expect, it } from 'vitest';
import { WireBatch } from '../../src/model/batch.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { WriteRequestEncoder } from '../../src/wire/rw1-encode.js';
import { reference } from '../support/reference-codec.js';
import { batchView, CAPTURES, readCaptureProtobuf, referenceView } from './wire-helpers.js';

/** What we observed in each capture, asserted so a changed fixture cannot pass unnoticed. */
const FACTS = {
  'req-001': { decodedBytes: 66_487, series: 500, labels: 2372, samples: 500, metadata: 0, timestamps: ['1795419832661'] },
  'req-002': { decodedBytes: 38_152, series: 239, labels: 1182, samples: 239, metadata: 0, timestamps: ['1795419832661', '1795419832685'] },
  'req-005': { decodedBytes: 35_120, series: 0, labels: 0, samples: 0, metadata: 396, timestamps: [] },
} as const;

describe.each(CAPTURES)('the Prometheus 2.42 capture %s', (name) => {
  const raw = readCaptureProtobuf(name);
  const facts = FACTS[name];
  const batch = new WireBatch();
  decodeWriteRequest(raw, batch);

  it('decodes to the counts observed in the capture', () => {
    expect(raw.length).toBe(facts.decodedBytes);
    expect(batch.seriesCount).toBe(facts.series);
    expect(batch.labelCount).toBe(facts.labels);
    expect(batch.sampleCount).toBe(facts.samples);
    expect(batch.exemplarCount).toBe(0);
    expect(batch.histogramCount).toBe(0);
    expect(batch.metadataCount).toBe(facts.metadata);
    const timestamps = new Set(Array.from(batch.sampleTimestampMs.subarray(0, batch.sampleCount), String));
    expect([...timestamps].sort()).toEqual(facts.timestamps);
  });

  it('decodes labels, timestamps, value bits, exemplars, histograms and metadata exactly as protobufjs does', () => {
    expect(batchView(batch)).toEqual(referenceView(raw));
  });

  it('records each series\' largest timestamp and contiguous index ranges', () => {
    let nextLabel = 0;
    let nextSample = 0;
    for (let s = 0; s < batch.seriesCount; s++) {
      expect(batch.seriesLabelFirst[s]).toBe(nextLabel);
      expect(batch.seriesSampleFirst[s]).toBe(nextSample);
      nextLabel += batch.seriesLabelCount[s] ?? 0;
      const first = nextSample;
      nextSample += batch.seriesSampleCount[s] ?? 0;
      const timestamps = Array.from(batch.sampleTimestampMs.subarray(first, nextSample));
      expect(batch.seriesMaxTimestampMs[s]).toBe(Math.max(...timestamps));
    }
    expect(nextLabel).toBe(batch.labelCount);
    expect(nextSample).toBe(batch.sampleCount);
  });

  it('is reproduced byte for byte by copying every series and metadata entry', () => {
    const encoder = new WriteRequestEncoder();
    encoder.reset();
    for (let s = 0; s < batch.seriesCount; s++) encoder.copySeries(batch, s);
    for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
    expect(encoder.finish().equals(raw)).toBe(true);
  });

  it('is reproduced byte for byte when every series is rebuilt from its parts, as Prometheus encodes them', () => {
    // Go encodes labels, then samples, with minimal lengths and no empty strings: the same
    // canonical form the encoder writes, so even a rebuilt request matches exactly.
    const encoder = new WriteRequestEncoder(16);
    encoder.reset();
    for (let s = 0; s < batch.seriesCount; s++) {
      encoder.beginSeries();
      const first = batch.seriesLabelFirst[s] ?? 0;
      for (let l = first; l < first + (batch.seriesLabelCount[s] ?? 0); l++) encoder.addBatchLabel(batch, l);
      expect(encoder.addSamples(batch, s, Infinity)).toBe(batch.seriesSampleCount[s]);
      expect(encoder.addExemplars(batch, s)).toBe(0);
      expect(encoder.addHistograms(batch, s)).toBe(0);
      encoder.endSeries();
    }
    for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
    expect(encoder.finish().equals(raw)).toBe(true);
  });
});

describe('the golden captures in particular', () => {
  it('carry the edge\'s external cluster label on every series, labels sorted by name', () => {
    for (const name of ['req-001', 'req-002'] as const) {
      const view = referenceView(readCaptureProtobuf(name));
      for (const series of view.timeseries) {
        expect(series.labels).toContainEqual({ name: 'cluster', value: 'edge-a' });
        const names = series.labels.map((l) => l.name);
        expect(names).toEqual([...names].sort());
      }
    }
  });

  it('keep Prometheus\'s ordinary NaN (0x7ff8000000000001) bit for bit in req-002', () => {
    const view = referenceView(readCaptureProtobuf('req-002'));
    const nanBits = view.timeseries.flatMap((s) => s.samples.map((x) => x.bits)).filter((b) => b.startsWith('7ff'));
    expect(nanBits).toEqual(Array(6).fill('7ff8000000000001'));
    const batch = new WireBatch();
    decodeWriteRequest(readCaptureProtobuf('req-002'), batch);
    expect(batchView(batch).timeseries.flatMap((s) => s.samples.map((x) => x.bits)).filter((b) => b.startsWith('7ff'))).toEqual(nanBits);
  });

  it('include a metadata-only request whose first entry is go_gc_duration_seconds, a summary', () => {
    const batch = new WireBatch();
    decodeWriteRequest(readCaptureProtobuf('req-005'), batch);
    const view = batchView(batch);
    expect(view.timeseries).toEqual([]);
    expect(view.metadata).toHaveLength(396);
    expect(view.metadata[0]).toEqual({
      type: 5,
      metric_family_name: 'go_gc_duration_seconds',
      help: 'A summary of the pause duration of garbage collection cycles.',
      unit: '',
    });
    expect(view.metadata).toEqual(reference.decode(readCaptureProtobuf('req-005')).metadata);
  });

  it('decode one after another into the same batch without leftovers', () => {
    const batch = new WireBatch();
    for (const name of [...CAPTURES, ...CAPTURES]) {
      const raw = readCaptureProtobuf(name);
      decodeWriteRequest(raw, batch);
      expect(batchView(batch)).toEqual(referenceView(raw));
    }
  });
});
