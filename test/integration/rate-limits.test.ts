/**
 * Per-tenant limits on the write path, in-process: a tenant over its rate gets its chosen
 * status with Retry-After, while another tenant's pushes all succeed; per-request caps answer 400;
 * a reload changes the limits.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/forward-helpers.js';
import { type Env, TOKEN_OVERRIDE, body, metricValue, push, series, startEnv } from '../support/write-env.js';

/** A request of `n` series of one sample each, for `cluster`. */
function request(n: number, cluster: string, tag: string): Buffer {
  const t = Date.now();
  return body(Array.from({ length: n }, (_, i) => series({ __name__: `load_${tag}`, cluster, i: String(i) }, [[i, t]])));
}

describe('per-tenant rate limits', () => {
  let env: Env;
  let configPath: string;
  beforeAll(async () => {
    env = await startEnv(
      '',
      '',
      `  team-a:
    limits: {ingestion_rate: 100, ingestion_burst_size: 2000, max_samples_per_request: 1500, request_rate: 100, request_burst_size: 100, rate_limit_status: 429}
`,
    );
    configPath = join(env.dir, 'tributary.yml');
  });
  afterAll(async () => {
    await env.close();
  });

  it('refuses a request over max_samples_per_request with a 400 naming the limit, taking no tokens', async () => {
    const res = await push(env.url, request(1501, 'edge-a', 'big'));
    expect(res.status).toBe(400);
    expect(res.text).toContain("more than tenant team-a's max_samples_per_request (1500)");
    expect(res.text).toContain('(tributary: too_many_samples)');
  });

  it('answers the over-rate tenant 429 with Retry-After, and the other tenant gets through every time', async () => {
    const first = await push(env.url, request(1000, 'edge-a', 'a1'));
    const second = await push(env.url, request(1000, 'edge-a', 'a2'));
    expect([first.status, second.status]).toEqual([204, 204]);

    const limited = await push(env.url, request(1000, 'edge-a', 'a3'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited.text).toContain('tenant team-a');
    expect(limited.text).toContain('(tributary: rate_limited)');

    // team-o has no limits: a burst of its pushes all succeed meanwhile.
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => push(env.url, request(1000, 'edge-o', `o${i}`), TOKEN_OVERRIDE)));
    expect(others.map((r) => r.status)).toEqual(Array(10).fill(204));

    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_ingest_rejected_requests_total', { tenant: 'team-a', reason: 'rate_limited' })).toBe(1);
    // Refused before its body was read (its last request needed more than is left), so its
    // samples were never counted.
    expect(metricValue(text, 'tributary_ingest_rejected_samples_total', { tenant: 'team-a', reason: 'rate_limited' })).toBe(0);
    expect(metricValue(text, 'tributary_ingest_requests_total', { tenant: 'team-a', code: '429' })).toBe(1);
    expect(metricValue(text, 'tributary_ingest_rejected_requests_total', { tenant: 'team-o' })).toBe(0);
  });

  it('applies new limits on reload', async () => {
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace('ingestion_rate: 100,', 'ingestion_rate: 1000000,').replace('ingestion_burst_size: 2000', 'ingestion_burst_size: 2000000'));
    expect(env.server.reload()).toBe(true);
    // The bucket keeps what was spent, and now refills at 1M/s: a moment later there is room.
    await new Promise((r) => setTimeout(r, 50));
    expect((await push(env.url, request(1000, 'edge-a', 'after-reload'))).status).toBe(204);
  });
});

describe('per-series label limits', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('', '', '  team-a:\n    limits: {max_label_names_per_series: 4, max_label_name_length: 12, max_label_value_length: 8}\n');
  });
  afterAll(async () => {
    await env.close();
  });

  it('refuses the series over a limit with a partial 400 naming the limit, its value and the first such series; the rest arrive', async () => {
    const t = Date.now();
    const res = await push(
      env.url,
      body([
        series({ __name__: 'good', cluster: 'edge-a', job: 'x' }, [[1, t]]),
        series({ __name__: 'many', cluster: 'edge-a', a: '1', b: '2', c: '3' }, [[1, t]]),
        series({ __name__: 'n', cluster: 'edge-a', a_very_long_label: '1' }, [[1, t]]),
        series({ __name__: 'v', cluster: 'edge-a', job: 'ninechars' }, [[1, t]]),
      ]),
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain("has 5 labels, more than tenant team-a's max_label_names_per_series (4)");
    expect(res.text).toContain('3 of 4 series');
    await eventually(() => env.received().some((ts) => ts.labels.some((l) => l.value === 'good')), 'the good series at the sink');
    const text = await env.metricsText();
    for (const reason of ['max_label_names_per_series', 'label_name_too_long', 'label_value_too_long']) {
      expect(metricValue(text, 'tributary_ingest_rejected_series_total', { tenant: 'team-a', reason })).toBe(1);
    }
  });
});

describe('active series limits', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('', '', '  team-a:\n    limits: {max_active_series: 3}\n');
  });
  afterAll(async () => {
    await env.close();
  });

  const pushSeries = (names: string[], t: number) => push(env.url, body(names.map((name) => series({ __name__: name, cluster: 'edge-a' }, [[1, t]]))));

  it('refuses new series over the limit with a partial 400, while the active ones keep arriving', async () => {
    const t = Date.now();
    expect((await pushSeries(['s1', 's2', 's3'], t)).status).toBe(204);
    const res = await pushSeries(['s1', 's2', 's3', 's4'], t + 1000);
    expect(res.status).toBe(400);
    expect(res.text).toContain('is new and tenant team-a has 3 active series, its max_active_series');
    expect(res.text).toContain('1 of 4 series');
    await eventually(() => env.received().filter((ts) => ts.labels.some((l) => l.value === 's1')).length === 2, 'both samples of s1');
    expect(env.received().some((ts) => ts.labels.some((l) => l.value === 's4'))).toBe(false);
    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_active_series', { tenant: 'team-a', cluster: 'edge-a' })).toBe(3);
    expect(metricValue(text, 'tributary_ingest_rejected_series_total', { tenant: 'team-a', reason: 'max_active_series' })).toBe(1);
  });
});

describe('per-tenant size and timestamp limits', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('', '', '  team-a:\n    limits: {max_body_bytes: 400, max_sample_age: 1h, future_grace: 1m}\n');
  });
  afterAll(async () => {
    await env.close();
  });

  it('answers 413 naming the tenant’s max_body_bytes, while another tenant’s larger body passes', async () => {
    const big = request(100, 'edge-a', 'big');
    expect(big.length).toBeGreaterThan(400);
    const res = await push(env.url, big);
    expect(res.status).toBe(413);
    expect(res.text).toContain(`${big.length} bytes is over the limit of 400 bytes (tenant team-a's max_body_bytes)`);
    expect((await push(env.url, request(100, 'edge-o', 'big'), TOKEN_OVERRIDE)).status).toBe(204);
  });

  it('refuses samples older than max_sample_age or past the tenant’s future_grace (partial 400), counted by cluster', async () => {
    const t = Date.now();
    const res = await push(
      env.url,
      body([
        series({ __name__: 'window', cluster: 'edge-a' }, [[1, t - 2 * 3_600_000], [2, t - 1000]]),
        series({ __name__: 'ahead', cluster: 'edge-a' }, [[1, t + 5 * 60_000]]),
      ]),
    );
    expect(res.status).toBe(400);
    expect(res.text).toContain("older than tenant team-a's max_sample_age (3600s)");
    expect(res.text).toContain('(tributary: too_old)');
    await eventually(() => env.received().some((ts) => ts.labels.some((l) => l.value === 'window')), 'the recent sample');
    const kept = env.received().find((ts) => ts.labels.some((l) => l.value === 'window'));
    expect(kept?.samples.map((s) => Number(s.timestamp))).toEqual([t - 1000]);
    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_ingest_rejected_samples_total', { tenant: 'team-a', cluster: 'edge-a', reason: 'too_old' })).toBe(1);
    expect(metricValue(text, 'tributary_ingest_rejected_series_total', { tenant: 'team-a', cluster: 'edge-a', reason: 'too_far_in_future' })).toBe(1);
  });
});
