import fc from 'fast-check';
import { uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { countWriteRequest, snappyDeclaredLength } from '../../../bench/lib/pbcount.js';
import { parseStatCpuTicks, parseStatusKb } from '../../../bench/lib/procstat.js';
import { prepareRequests, requestLayout, requestsToCover } from '../../../bench/lib/requests.js';
import { generateSeries, renderLabels } from '../../../bench/lib/series.js';
import { reference } from '../../support/reference-codec.js';

const CLUSTER = 'bench-eu-west-1';

describe('bench series generator', () => {
  const series = generateSeries({ count: 3000, cluster: CLUSTER });

  it('gives exactly the requested number of distinct series', () => {
    expect(series).toHaveLength(3000);
    expect(new Set(series.map((s) => renderLabels(s.labels))).size).toBe(3000);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const again = generateSeries({ count: 3000, cluster: CLUSTER });
    expect(again.map((s) => renderLabels(s.labels))).toEqual(series.map((s) => renderLabels(s.labels)));
    const other = generateSeries({ count: 3000, cluster: CLUSTER, seed: 7 });
    expect(other.map((s) => renderLabels(s.labels))).not.toEqual(series.map((s) => renderLabels(s.labels)));
  });

  it('gives every series 8 to 12 labels, sorted by name, with job, instance and the cluster', () => {
    for (const s of series) {
      const names = s.labels.map((l) => l.name);
      expect(names.length).toBeGreaterThanOrEqual(8);
      expect(names.length).toBeLessThanOrEqual(12);
      expect(names[0]).toBe('__name__');
      expect([...names].sort()).toEqual(names);
      expect(new Set(names).size).toBe(names.length);
      expect(names).toEqual(expect.arrayContaining(['job', 'instance', 'cluster']));
      expect(s.labels.find((l) => l.name === 'cluster')?.value).toBe(CLUSTER);
      for (const l of s.labels) expect(l.value.length).toBeGreaterThan(0);
    }
  });

  it('mixes node_exporter, cAdvisor and kube-state-metrics series', () => {
    const names = new Set(series.map((s) => s.labels[0]?.value));
    expect(names).toContain('node_cpu_seconds_total');
    expect(names).toContain('node_filesystem_avail_bytes');
    expect(names).toContain('node_network_receive_bytes_total');
    expect(names).toContain('container_cpu_usage_seconds_total');
    expect(names).toContain('kube_pod_status_phase');
  });
});

describe('bench request layout', () => {
  it('puts one scrape of consecutive series in each request and advances every series by one scrape per round', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 120 }), fc.integer({ min: 1, max: 40 }), (seriesCount, batch, requests) => {
        const seen = new Map<number, number>();
        for (let i = 0; i < requests; i++) {
          const { scrape, from, to } = requestLayout(i, batch, seriesCount);
          expect(from).toBeGreaterThanOrEqual(0);
          expect(to).toBeLessThanOrEqual(seriesCount);
          expect(to - from).toBeGreaterThan(0);
          expect(to - from).toBeLessThanOrEqual(batch);
          for (let s = from; s < to; s++) {
            // Scrapes of one series come one after another, across requests.
            expect(scrape).toBe((seen.get(s) ?? -1) + 1);
            seen.set(s, scrape);
          }
        }
        // Every series appears in every complete scrape.
        const complete = Math.floor(requests / requestsToCover(seriesCount, batch));
        for (let s = 0; s < seriesCount; s++) expect(seen.get(s) ?? -1).toBeGreaterThanOrEqual(complete - 1);
      }),
    );
  });
});

describe('bench pre-encoded requests', () => {
  const series = generateSeries({ count: 1000, cluster: CLUSTER });
  const set = prepareRequests({ series, batch: 300, endMs: 1_700_000_000_000 });

  it('covers every series in whole scrapes and decodes as valid RW 1.0 with increasing timestamps per series', () => {
    // 4 requests per scrape (300, 300, 300, 100 series), 4 scrapes for at least 16 requests.
    expect(set.requests.map((r) => r.samples)).toEqual([300, 300, 300, 100, 300, 300, 300, 100, 300, 300, 300, 100, 300, 300, 300, 100]);
    expect(set.samples).toBe(4000);
    expect(set.scrapes).toBe(4);
    expect(set.seriesCovered).toBe(1000);
    expect(set.lastTimestampMs).toBe(1_700_000_000_000);
    expect(set.firstTimestampMs).toBe(1_700_000_000_000 - 3 * 15_000);
    const lastTs = new Map<string, number>();
    for (const req of set.requests) {
      const raw = uncompress(req.body);
      expect(raw.length).toBe(req.rawBytes);
      expect(snappyDeclaredLength(req.body)).toBe(req.rawBytes);
      const decoded = reference.decode(raw);
      expect(decoded.timeseries).toHaveLength(req.series);
      let samples = 0;
      for (const [k, ts] of decoded.timeseries.entries()) {
        expect(renderLabels(ts.labels)).toBe(renderLabels((series[req.seriesFrom + k] as (typeof series)[number]).labels));
        const key = renderLabels(ts.labels);
        for (const s of ts.samples) {
          const t = Number(s.timestamp);
          expect(t).toBe(set.firstTimestampMs + req.scrape * set.intervalMs);
          expect(t).toBeGreaterThan(lastTs.get(key) ?? 0);
          lastTs.set(key, t);
          samples++;
        }
      }
      expect(samples).toBe(req.samples);
      expect(countWriteRequest(raw)).toEqual({ series: req.series, samples: req.samples });
    }
    expect(lastTs.size).toBe(1000);
  });

  it('carries every series once per request when the batch is larger than the series count', () => {
    const small = prepareRequests({ series: series.slice(0, 50), batch: 300, requests: 3, endMs: 1_700_000_000_000 });
    expect(small.requests.map((r) => [r.samples, r.scrape, r.seriesFrom, r.seriesTo])).toEqual([
      [50, 0, 0, 50],
      [50, 1, 0, 50],
      [50, 2, 0, 50],
    ]);
  });

  it('stops at the size cap', () => {
    const capped = prepareRequests({ series, batch: 300, requests: 100, maxCompressedBytes: 1 });
    expect(capped.requests).toHaveLength(1);
  });
});

describe('bench protobuf counting', () => {
  it('counts series and samples as protobufjs encodes them, metadata and histograms ignored', () => {
    const raw = reference.encode({
      timeseries: [
        { labels: [{ name: '__name__', value: 'a' }], samples: [{ value: 1, timestamp: 1 }, { value: 2, timestamp: 2 }] },
        { labels: [{ name: '__name__', value: 'b' }], histograms: [{ sum: 1, timestamp: 3 }] },
        { labels: [{ name: '__name__', value: 'c' }], samples: [{ value: 3, timestamp: 5 }] },
      ],
      metadata: [{ type: 1, metric_family_name: 'a', help: 'h', unit: '' }],
    });
    expect(countWriteRequest(raw)).toEqual({ series: 3, samples: 3 });
  });

  it('rejects truncated input', () => {
    const raw = reference.encode({ timeseries: [{ labels: [{ name: 'x', value: 'y' }], samples: [{ value: 1, timestamp: 1 }] }] });
    expect(() => countWriteRequest(raw.subarray(0, raw.length - 3))).toThrow();
  });
});

describe('bench /proc parsing', () => {
  it('reads utime + stime after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0 1000 1234567 890';
    expect(parseStatCpuTicks(stat)).toBe(325);
  });

  it('reads kB fields of /proc/<pid>/status as bytes', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(parseStatusKb(status, 'VmHWM')).toBe(204800 * 1024);
    expect(parseStatusKb(status, 'VmRSS')).toBe(102400 * 1024);
    expect(parseStatusKb(status, 'VmSwap')).toBeUndefined();
  });
});
