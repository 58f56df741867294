/**
 * The pipeline's per-tenant limits that look at whole samples: the timestamp window (future_grace,
 * max_sample_age → too_old) and the decompressed-size cap; and where refused and accepted data are
 * counted (per cluster, for metrics and usage).
 */
import { compress, uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { createPrincipal, type Principal } from '../../../src/auth/principal.js';
import { BadPayloadError } from '../../../src/errors.js';
import { NO_LIMITS, type TenantLimits } from '../../../src/limits/limits.js';
import { type PipelineSettings, WritePipeline, type WriteResult } from '../../../src/pipeline.js';
import { type RefTimeSeriesInput, reference } from '../../support/reference-codec.js';

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const EDGE_A = createPrincipal('team-a', 'tok_a', ['edge-a']);
const TWO_CLUSTERS = createPrincipal('team-a', 'tok_m', ['edge-a', 'edge-b']);

function pipeline(limits: Partial<TenantLimits>, extra: Partial<PipelineSettings> = {}): WritePipeline {
  return new WritePipeline({
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 1 << 20,
    backends: [{ name: 'b', shards: 1, tenantLabel: undefined, acceptsNativeHistograms: true }],
    policyFor: () => ({ missing: 'inject', mismatch: 'reject' }),
    limitsFor: () => ({ ...NO_LIMITS, ...limits }),
    ...extra,
  });
}

function body(timeseries: RefTimeSeriesInput[]): Buffer {
  return Buffer.from(compress(reference.encode({ timeseries })));
}

function series(name: string, timestamps: number[], cluster: string | null = 'edge-a', extra: Partial<RefTimeSeriesInput> = {}): RefTimeSeriesInput {
  const labels = [{ name: '__name__', value: name }];
  if (cluster !== null) labels.push({ name: 'cluster', value: cluster });
  return { labels, samples: timestamps.map((t, i) => ({ value: i, timestamp: t })), ...extra };
}

/** name -> forwarded sample timestamps. */
function forwarded(result: WriteResult): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const item of result.items) {
    for (const ts of reference.decode(Buffer.from(uncompress(item.payload))).timeseries) {
      const name = ts.labels.find((l) => l.name === '__name__')?.value ?? '?';
      out[name] = [...(out[name] ?? []), ...ts.samples.map((s) => Number(s.timestamp))];
    }
  }
  return out;
}

function run(p: WritePipeline, series: RefTimeSeriesInput[], principal: Principal = EDGE_A): WriteResult {
  return p.process(principal, body(series), NOW);
}

describe('timestamp window per tenant', () => {
  it.each([
    {
      what: 'old samples are dropped, the series’ recent ones kept (partial 400 too_old)',
      limits: { max_sample_age: HOUR },
      input: [series('m', [NOW - 2 * HOUR, NOW - 1000])],
      kept: { m: [NOW - 1000] },
      rejected: { too_old: { series: 0, samples: 1 } },
    },
    {
      what: 'a series with only old samples is refused whole',
      limits: { max_sample_age: HOUR },
      input: [series('m', [NOW - 3 * HOUR, NOW - 2 * HOUR]), series('n', [NOW])],
      kept: { n: [NOW] },
      rejected: { too_old: { series: 1, samples: 2 } },
    },
    {
      what: 'a sample exactly max_sample_age old is kept',
      limits: { max_sample_age: HOUR },
      input: [series('m', [NOW - HOUR])],
      kept: { m: [NOW - HOUR] },
      rejected: {},
    },
    {
      what: 'no max_sample_age: any age passes',
      limits: {},
      input: [series('m', [NOW - 365 * 24 * HOUR])],
      kept: { m: [NOW - 365 * 24 * HOUR] },
      rejected: {},
    },
    {
      what: 'the tenant’s own future_grace replaces the default',
      limits: { future_grace: 1000 },
      input: [series('m', [NOW + 1000, NOW + 2000])],
      kept: { m: [NOW + 1000] },
      rejected: { too_far_in_future: { series: 0, samples: 1 } },
    },
    {
      what: 'old and future samples of one series are counted under their own reasons',
      limits: { max_sample_age: HOUR, future_grace: 1000 },
      input: [series('m', [NOW - 2 * HOUR, NOW, NOW + 5000])],
      kept: { m: [NOW] },
      rejected: { too_old: { series: 0, samples: 1 }, too_far_in_future: { series: 0, samples: 1 } },
    },
  ])('$what', ({ limits, input, kept, rejected }) => {
    const result = run(pipeline(limits), input);
    expect(forwarded(result)).toEqual(kept);
    expect(Object.fromEntries(result.rejections.byCluster.get('edge-a') ?? [])).toEqual(rejected);
  });

  it('refuses a series with an old native histogram whole, and names the limit in the message', () => {
    const p = pipeline({ max_sample_age: HOUR });
    const result = run(p, [series('h', [NOW], 'edge-a', { histograms: [{ count_int: 1, timestamp: NOW - 2 * HOUR }] })]);
    expect(result.items).toEqual([]);
    expect(result.rejections.byCluster.get('edge-a')?.get('too_old')).toEqual({ series: 1, samples: 2 });
    const error = result.rejections.toError(result.seriesTotal);
    expect(error.status).toBe(400);
    expect(error.reason).toBe('too_old');
    expect(error.message).toContain("older than tenant team-a's max_sample_age (3600s)");
    expect(error.message).toContain(new Date(NOW - HOUR).toISOString());
  });

  it('keeps the high-water mark out of it: an old sample refused sets no mark', () => {
    const p = pipeline({ max_sample_age: HOUR }, { maxTrackedSeries: 1000 });
    const first = run(p, [series('m', [NOW - 2 * HOUR, NOW - 10_000])]);
    first.highWaterMarks.commit();
    expect(forwarded(first)).toEqual({ m: [NOW - 10_000] });
    // Newer than the kept sample: forwarded.
    expect(forwarded(run(p, [series('m', [NOW - 5000])]))).toEqual({ m: [NOW - 5000] });
  });
});

describe('decompressed size cap per tenant', () => {
  const big = [series('m', Array.from({ length: 200 }, (_, i) => NOW - 200 + i))];

  it('refuses a body over the tenant’s max_decoded_bytes, naming the tenant’s setting', () => {
    expect(() => run(pipeline({ max_decoded_bytes: 500 }), big)).toThrow(BadPayloadError);
    expect(() => run(pipeline({ max_decoded_bytes: 500 }), big)).toThrow("over the limit of 500 (tenant team-a's max_decoded_bytes)");
  });

  it('never raises the server’s cap: a larger tenant cap still meets server.max_decoded_bytes', () => {
    expect(() => run(pipeline({ max_decoded_bytes: 1 << 30 }, { maxDecodedBytes: 500 }), big)).toThrow('over the limit of 500 (server.max_decoded_bytes)');
  });

  it('takes a body under the cap', () => {
    expect(run(pipeline({ max_decoded_bytes: 1 << 20 }), big).acceptedSamples).toBe(200);
  });
});

describe('per-cluster accounting', () => {
  it('counts accepted and refused data under the cluster each series names', () => {
    const p = pipeline({ max_sample_age: HOUR });
    const result = run(
      p,
      [
        series('a1', [NOW - 1, NOW]),
        series('a2', [NOW - 2 * HOUR]),
        series('b1', [NOW], 'edge-b'),
        // Not a cluster this token may write: counted under '' (the series names no allowed one).
        series('x1', [NOW, NOW - 1], 'edge-x'),
        // No cluster, and the token has two: cannot be injected, counted under ''.
        series('none', [NOW], null),
      ],
      TWO_CLUSTERS,
    );
    expect(result.clusterUsage).toEqual([
      { cluster: 'edge-a', acceptedSamples: 2, acceptedSeries: 1, rejectedSamples: 1, rejectedSeries: 1 },
      { cluster: 'edge-b', acceptedSamples: 1, acceptedSeries: 1, rejectedSamples: 0, rejectedSeries: 0 },
      { cluster: '', acceptedSamples: 0, acceptedSeries: 0, rejectedSamples: 3, rejectedSeries: 2 },
    ]);
    expect(Object.fromEntries(result.rejections.byCluster.get('') ?? [])).toEqual({
      cluster_mismatch: { series: 1, samples: 2 },
      cluster_missing: { series: 1, samples: 1 },
    });
  });

  it('counts refused data of a one-cluster token under that cluster, whatever the series claimed', () => {
    const result = run(pipeline({}), [series('x', [NOW], 'edge-x'), series('ok', [NOW])]);
    expect(result.clusterUsage).toEqual([{ cluster: 'edge-a', acceptedSamples: 1, acceptedSeries: 1, rejectedSamples: 1, rejectedSeries: 1 }]);
  });
});
