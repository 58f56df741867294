/**
 * The high-water mark inside the write pipeline: which samples are forwarded, dropped and counted,
 * when marks are set (only on commit, after the queue append), and the property that matters to a
 * central Prometheus 2.42: the forwarded samples of each series are strictly increasing in time,
 * and nothing newer than what was forwarded is ever dropped.
 */
import fc from 'fast-check';
import { compress, uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { createPrincipal, type Principal } from '../../../src/auth/principal.js';
import { type PipelineSettings, type RouteTarget, WritePipeline, type WriteResult } from '../../../src/pipeline.js';
import { MarkUpdate } from '../../../src/policy/high-water-mark.js';
import { type RefTimeSeriesInput, type RefWriteRequest, reference } from '../../support/reference-codec.js';

const NOW = 1_700_000_000_000;
const TEAM_A = createPrincipal('team-a', 'tok_a', ['edge-a']);
const TEAM_A_EDGE_B = createPrincipal('team-a', 'tok_b', ['edge-b']);
const TEAM_X = createPrincipal('team-x', 'tok_x', ['edge-a']);

function settings(backend: Partial<RouteTarget> = {}, extra: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 1 << 20,
    backends: [{ name: 'b', shards: 1, tenantLabel: undefined, acceptsNativeHistograms: true, ...backend }],
    policyFor: () => ({ missing: 'inject', mismatch: 'reject' }),
    maxTrackedSeries: 10_000,
    ...extra,
  };
}

function body(timeseries: RefTimeSeriesInput[]): Buffer {
  return Buffer.from(compress(reference.encode({ timeseries })));
}

function series(name: string, timestamps: number[], extra: Partial<RefTimeSeriesInput> = {}, cluster = 'edge-a'): RefTimeSeriesInput {
  return {
    labels: [
      { name: '__name__', value: name },
      { name: 'cluster', value: cluster },
    ],
    samples: timestamps.map((t, i) => ({ value: i + 0.5, timestamp: t })),
    ...extra,
  };
}

function forwarded(result: WriteResult): RefWriteRequest['timeseries'] {
  return result.items.flatMap((item) => reference.decode(Buffer.from(uncompress(item.payload))).timeseries);
}

/** name -> forwarded sample timestamps, in order. */
function samplesByName(result: WriteResult): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const ts of forwarded(result)) {
    const name = ts.labels.find((l) => l.name === '__name__')?.value ?? '?';
    out[name] = [...(out[name] ?? []), ...ts.samples.map((s) => Number(s.timestamp))];
  }
  return out;
}

/** process + commit, as the write route does when the queue append succeeds. */
function accept(pipeline: WritePipeline, payload: Buffer, principal: Principal = TEAM_A): WriteResult {
  const result = pipeline.process(principal, payload, NOW);
  result.highWaterMarks.commit();
  return result;
}

describe('high-water mark in the pipeline', () => {
  it('forwards ascending samples unchanged, the request still on the fast path', () => {
    const p = new WritePipeline(settings());
    const first = body([series('up', [NOW - 2000])]);
    const second = body([series('up', [NOW - 1000])]);
    expect(accept(p, first).items[0]?.payload).toBe(first);
    const r = accept(p, second);
    expect(r.items[0]?.payload).toBe(second);
    expect(r.droppedDuplicates + r.droppedOutOfOrder).toBe(0);
    expect(r.acceptedSamples).toBe(1);
  });

  it('drops a resent request as duplicates (accepted, nothing forwarded twice)', () => {
    const p = new WritePipeline(settings());
    const payload = body([series('up', [NOW - 2000, NOW - 1000]), series('down', [NOW - 1000])]);
    expect(accept(p, payload).acceptedSamples).toBe(3);
    const again = accept(p, payload);
    expect(again.items).toEqual([]);
    expect(again.droppedDuplicates).toBe(2);
    expect(again.droppedOutOfOrder).toBe(1);
    expect(again.receivedSamples).toBe(3);
    expect(again.acceptedSamples).toBe(0);
    expect(again.rejections.isEmpty).toBe(true);
  });

  it('drops older and equal samples, keeps the newer ones of the same series, and leaves other series as they were', () => {
    const p = new WritePipeline(settings());
    accept(p, body([series('a', [NOW - 2000]), series('b', [NOW - 2000])]));
    const r = accept(p, body([series('a', [NOW - 3000, NOW - 2000, NOW - 1000]), series('b', [NOW - 1500])]));
    expect(samplesByName(r)).toEqual({ a: [NOW - 1000], b: [NOW - 1500] });
    expect(r.droppedOutOfOrder).toBe(1);
    expect(r.droppedDuplicates).toBe(1);
    expect(r.acceptedSamples).toBe(2);
  });

  it('filters a series whose samples arrive out of order in wire order: each kept sample raises the mark', () => {
    const p = new WritePipeline(settings());
    const r = accept(p, body([series('m', [10, 30, 20, 30, 40])]));
    expect(samplesByName(r)).toEqual({ m: [10, 30, 40] });
    expect(r.droppedOutOfOrder).toBe(1);
    expect(r.droppedDuplicates).toBe(1);
  });

  it('treats a series sent as several entries in one request as one series', () => {
    const p = new WritePipeline(settings());
    // Catch-up style (one entry per sample, ascending): all kept.
    expect(samplesByName(accept(p, body([series('c', [10]), series('c', [20]), series('c', [30])])))).toEqual({ c: [10, 20, 30] });
    // A later entry older than an earlier one of the same request: dropped.
    const r = accept(p, body([series('c', [50]), series('c', [40]), series('c', [50]), series('c', [60])]));
    expect(samplesByName(r)).toEqual({ c: [50, 60] });
    expect(r.droppedOutOfOrder).toBe(1);
    expect(r.droppedDuplicates).toBe(1);
  });

  it('sets marks only on commit: a request whose queue append failed does not poison its retry', () => {
    const p = new WritePipeline(settings());
    const payload = body([series('up', [NOW - 1000])]);
    const failed = p.process(TEAM_A, payload, NOW);
    expect(failed.items).toHaveLength(1);
    // No commit: the append threw (503). The sender retries the same samples.
    const retry = accept(p, payload);
    expect(retry.items).toHaveLength(1);
    expect(retry.droppedDuplicates).toBe(0);
    // Committing the failed attempt late changes nothing: marks only rise.
    failed.highWaterMarks.commit();
    expect(accept(p, payload).droppedDuplicates).toBe(1);
  });

  it('sets no mark for samples it refuses (too far in the future) or for series the cluster lock rejects', () => {
    const p = new WritePipeline(settings());
    // The future sample is refused (400 for it); the good one of the same series is kept.
    const r = accept(p, body([series('f', [NOW - 5000, NOW + 3_600_000])]));
    expect(samplesByName(r)).toEqual({ f: [NOW - 5000] });
    expect(r.rejections.byCluster.get('edge-a')?.get('too_far_in_future')).toEqual({ series: 0, samples: 1 });
    // Only the kept sample set the mark.
    expect(samplesByName(accept(p, body([series('f', [NOW - 4000])])))).toEqual({ f: [NOW - 4000] });

    // A series of cluster edge-b sent with an edge-a token is rejected; the edge-b token's copy passes.
    const foreign = body([series('g', [NOW - 1000], {}, 'edge-b')]);
    const rejected = accept(p, foreign, TEAM_A);
    expect(rejected.items).toEqual([]);
    expect(rejected.rejections.isEmpty).toBe(false);
    expect(samplesByName(accept(p, foreign, TEAM_A_EDGE_B))).toEqual({ g: [NOW - 1000] });
  });

  it('keeps tenants apart: the same series of two tenants has two marks', () => {
    const p = new WritePipeline(settings());
    const payload = body([series('up', [NOW - 1000])]);
    accept(p, payload, TEAM_A);
    expect(accept(p, payload, TEAM_X).items).toHaveLength(1);
    expect(accept(p, payload, TEAM_X).items).toHaveLength(0);
  });

  it('applies the same rule to native histograms (shared mark with the float samples)', () => {
    const p = new WritePipeline(settings());
    const h = (t: number) => ({ count_int: 1, sum: 1, timestamp: t });
    accept(p, body([series('h', [], { histograms: [h(100)] })]));
    const r = accept(p, body([series('h', [], { histograms: [h(90), h(100), h(110)] })]));
    const ts = forwarded(r);
    expect(ts).toHaveLength(1);
    expect(ts[0]?.histograms.map((x) => Number(x.timestamp))).toEqual([110]);
    expect(r.droppedOutOfOrder).toBe(1);
    expect(r.droppedDuplicates).toBe(1);
    expect(r.acceptedSamples).toBe(1);
  });

  it('counts only histograms the mark kept as left out for a backend without native histograms', () => {
    const p = new WritePipeline(settings({ acceptsNativeHistograms: false }));
    const h = (t: number) => ({ count_int: 1, sum: 1, timestamp: t });
    accept(p, body([series('h', [], { histograms: [h(100)] })]));
    const r = accept(p, body([series('h', [], { histograms: [h(100), h(110), h(120)] })]));
    expect(r.droppedDuplicates).toBe(1);
    expect(r.droppedHistograms.get('b')).toBe(2);
    expect(r.items).toEqual([]);
  });

  it('still forwards the exemplars of a series whose samples were all dropped', () => {
    const p = new WritePipeline(settings());
    accept(p, body([series('e', [NOW - 1000])]));
    const r = accept(p, body([series('e', [NOW - 1000], { exemplars: [{ labels: [{ name: 'trace_id', value: 'x' }], value: 1, timestamp: NOW - 1000 }] })]));
    const ts = forwarded(r);
    expect(ts).toHaveLength(1);
    expect(ts[0]?.samples).toEqual([]);
    expect(ts[0]?.exemplars).toHaveLength(1);
    expect(r.droppedDuplicates).toBe(1);
  });

  it('rewrites only what it must: a dropped sample sends its series through the encoder, tenant label included', () => {
    const p = new WritePipeline(settings({ tenantLabel: 'tenant' }));
    accept(p, body([series('t', [NOW - 2000])]));
    const r = accept(p, body([series('t', [NOW - 2000, NOW - 1000])]));
    const ts = forwarded(r);
    expect(ts[0]?.labels).toEqual([
      { name: '__name__', value: 't' },
      { name: 'cluster', value: 'edge-a' },
      { name: 'tenant', value: 'team-a' },
    ]);
    expect(ts[0]?.samples.map((s) => Number(s.timestamp))).toEqual([NOW - 1000]);
  });

  it('a reloaded pipeline takes the marks over when the size is unchanged, and starts empty otherwise', () => {
    const p = new WritePipeline(settings());
    const payload = body([series('up', [NOW - 1000])]);
    accept(p, payload);
    const same = new WritePipeline(settings(), p);
    expect(same.highWaterMarks).toBe(p.highWaterMarks);
    expect(accept(same, payload).droppedDuplicates).toBe(1);
    const resized = new WritePipeline(settings({}, { maxTrackedSeries: 20_000 }), same);
    expect(resized.highWaterMarks).not.toBe(p.highWaterMarks);
    expect(resized.highWaterMarks?.maxSeries).toBe(20_000);
    expect(accept(resized, payload).droppedDuplicates).toBe(0);
    // Without the setting: the schema's default size.
    const { maxTrackedSeries, ...withoutSize } = settings();
    expect(maxTrackedSeries).toBe(10_000);
    expect(new WritePipeline(withoutSize).highWaterMarks?.maxSeries).toBe(1_000_000);
  });

  it('can be turned off (maxTrackedSeries 0): everything not refused otherwise is forwarded as it came', () => {
    const p = new WritePipeline(settings({}, { maxTrackedSeries: 0 }));
    expect(p.highWaterMarks).toBeUndefined();
    const payload = body([series('up', [NOW - 1000])]);
    expect(accept(p, payload).items[0]?.payload).toBe(payload);
    const again = accept(p, payload);
    expect(again.items[0]?.payload).toBe(payload);
    expect(again.droppedDuplicates).toBe(0);
    expect(again.highWaterMarks).toBe(MarkUpdate.EMPTY);
    // A rewritten series keeps its samples in wire order, only the future ones left out.
    const r = accept(p, body([series('m', [30, 10, 20, NOW + 3_600_000])]));
    expect(samplesByName(r)).toEqual({ m: [30, 10, 20] });
    expect(r.acceptedSamples).toBe(3);
  });

  it('property: forwarded samples of every series strictly increase, and nothing newer than them is dropped', () => {
    const sampleArb = fc.integer({ min: 0, max: 30 });
    const entryArb = fc.record({ id: fc.integer({ min: 0, max: 3 }), timestamps: fc.array(sampleArb, { maxLength: 4 }) });
    const requestArb = fc.record({ entries: fc.array(entryArb, { minLength: 1, maxLength: 6 }), appendFails: fc.boolean(), tenantLabel: fc.boolean() });
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 12 }), fc.boolean(), (requests, withTenantLabel) => {
        const p = new WritePipeline(settings(withTenantLabel ? { tenantLabel: 'tenant' } : {}));
        /** What the backend got (committed requests only), per series. */
        const delivered = new Map<string, number[]>();
        /** Model: the mark of each series. */
        const mark = new Map<string, number>();
        for (const request of requests) {
          const result = p.process(TEAM_A, body(request.entries.map((e) => series(`s${e.id}`, e.timestamps.map((t) => NOW - 100_000 + t)))), NOW);
          // The model's view of this request, in wire order.
          const running = new Map(mark);
          const expected = new Map<string, number[]>();
          let older = 0;
          let same = 0;
          for (const e of request.entries) {
            const name = `s${e.id}`;
            for (const t0 of e.timestamps) {
              const t = NOW - 100_000 + t0;
              const m = running.get(name) ?? Number.NEGATIVE_INFINITY;
              if (t > m) {
                running.set(name, t);
                expected.set(name, [...(expected.get(name) ?? []), t]);
              } else if (t === m) same++;
              else older++;
            }
          }
          const got = samplesByName(result);
          expect(new Map(Object.entries(got).filter(([, v]) => v.length > 0))).toEqual(expected);
          expect(result.droppedOutOfOrder).toBe(older);
          expect(result.droppedDuplicates).toBe(same);
          if (request.appendFails) continue;
          result.highWaterMarks.commit();
          for (const [name, ts] of Object.entries(got)) delivered.set(name, [...(delivered.get(name) ?? []), ...ts]);
          for (const [name, m] of running) mark.set(name, m);
        }
        for (const ts of delivered.values()) for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThan(ts[i - 1] as number);
      }),
      { numRuns: 300 },
    );
  });
});
