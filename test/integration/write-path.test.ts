/**
 * The whole write path in-process: startServer (HTTP, auth, pipeline, queue, forwarder) against a
 * fake backend that fails on demand.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compress } from 'snappyjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/forward-helpers.js';
import { doubleBits, reference } from '../support/reference-codec.js';
import {
  type Env,
  STALE_NAN,
  TOKEN_A,
  TOKEN_MULTI,
  TOKEN_OVERRIDE,
  body,
  decodeBody,
  labelsOf,
  metricValue,
  push,
  series,
  sha,
  startEnv,
} from '../support/write-env.js';

const now = () => Date.now();

describe('write path with the default backend', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env.close();
  });
  afterEach(() => {
    env.sink.respond = () => ({ status: 204 });
  });

  it('exports each backend\'s queue cap beside its depth, for alerts on a queue near its cap', async () => {
    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_queue_max_bytes', { backend: 'sink' })).toBe(256 * 1024 * 1024);
    expect(text).toContain('tributary_queue_bytes{backend="sink"}');
  });

  it('forwards a request that needs no change exactly as it arrived, still compressed', async () => {
    const payload = body([series({ __name__: 'fast_path', cluster: 'edge-a', job: 'node' }, [[1, now()]])]);
    const res = await push(env.url, payload);
    expect(res.status).toBe(204);
    await eventually(() => env.sink.accepted().some((r) => r.body.equals(payload)), 'the original body at the sink');
  });

  it('injects the cluster for a series without it, and keeps samples, exemplars and stale markers bit for bit', async () => {
    const t = now();
    const payload = body([
      // Samples as objects: a JS array of doubles would quiet the signalling NaN before encoding.
      series({ __name__: 'injected', job: 'node' }, [], {
        samples: [
          { value: 1.5, timestamp: t - 1000 },
          { value: STALE_NAN, timestamp: t },
        ],
        exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 7, timestamp: t }],
      }),
    ]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'injected'), 'the injected series');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'injected');
    expect(ts?.labels).toEqual([
      { name: '__name__', value: 'injected' },
      { name: 'cluster', value: 'edge-a' },
      { name: 'job', value: 'node' },
    ]);
    expect(ts?.samples.map((s) => doubleBits(s.value))).toEqual([doubleBits(1.5), '7ff0000000000002']);
    expect(ts?.samples.map((s) => Number(s.timestamp))).toEqual([t - 1000, t]);
    expect(ts?.exemplars).toEqual([{ labels: [{ name: 'trace_id', value: 'abc' }], value: 7, timestamp: String(t) }]);
  });

  it('sorts unsorted labels and leaves out labels with empty values', async () => {
    const payload = body([series({ zeta: 'z', cluster: 'edge-a', __name__: 'unsorted', empty: '', alpha: 'a' }, [[1, now()]])]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'unsorted'), 'the unsorted series');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'unsorted');
    expect(ts?.labels.map((l) => l.name)).toEqual(['__name__', 'alpha', 'cluster', 'zeta']);
  });

  it('rejects a foreign cluster with 400 naming series, cluster and allowed clusters, and forwards the rest', async () => {
    const payload = body([
      series({ __name__: 'mixed_ok', cluster: 'edge-a' }, [[1, now()]]),
      series({ __name__: 'mixed_bad', cluster: 'edge-b', pod: 'p1' }, [[1, now()], [2, now()]]),
    ]);
    const res = await push(env.url, payload);
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/^series \{__name__="mixed_bad", cluster="edge-b", pod="p1"\} has cluster="edge-b" but token config:0 \(tenant team-a\) may only write cluster "edge-a"/);
    expect(res.text).toContain('1 of 2 series and 2 samples rejected (cluster_mismatch)');
    expect(res.text.trim().endsWith('(tributary: cluster_mismatch)')).toBe(true);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'mixed_ok'), 'the valid series');
    expect(env.received().some((ts) => labelsOf(ts).__name__ === 'mixed_bad')).toBe(false);
    const metrics = await env.metricsText();
    expect(metricValue(metrics, 'tributary_ingest_rejected_samples_total', { tenant: 'team-a', reason: 'cluster_mismatch' })).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['an invalid label name', { __name__: 'x', cluster: 'edge-a', 'foo-bar': '1' }, 'invalid_label_name', 'invalid label name "foo-bar"'],
    ['no metric name', { cluster: 'edge-a', job: 'x' }, 'missing_metric_name', 'has no __name__ label'],
    ['an empty label name', { __name__: 'x', cluster: 'edge-a', '': 'v' }, 'empty_label_name', 'a label with an empty name'],
  ])('rejects a series with %s (400, reason %s)', async (_name, labels, reason, text) => {
    const res = await push(env.url, body([series(labels, [[1, now()]])]));
    expect(res.status).toBe(400);
    expect(res.text).toContain(text);
    expect(res.text).toContain(`(tributary: ${reason})`);
  });

  it('rejects duplicate label names even when they are not neighbours', async () => {
    const payload = body([{ labels: [{ name: '__name__', value: 'dup' }, { name: 'b', value: '1' }, { name: 'cluster', value: 'edge-a' }, { name: 'b', value: '2' }], samples: [{ value: 1, timestamp: now() }] }]);
    const res = await push(env.url, payload);
    expect(res.status).toBe(400);
    expect(res.text).toContain('has label "b" more than once');
  });

  it('rejects a label value that is not UTF-8', async () => {
    // Build the protobuf by hand: protobufjs would re-encode the string as valid UTF-8.
    const name = Buffer.from('__name__');
    const value = Buffer.from('bad');
    const bad = Buffer.from([0xff, 0xfe]);
    const label = (n: Buffer, v: Buffer) => Buffer.concat([Buffer.from([0x0a, n.length + v.length + 4, 0x0a, n.length]), n, Buffer.from([0x12, v.length]), v]);
    const sample = Buffer.from(reference.encode({ timeseries: [{ samples: [{ value: 1, timestamp: now() }] }] }).subarray(2));
    const ts = Buffer.concat([label(name, value), label(Buffer.from('cluster'), Buffer.from('edge-a')), label(Buffer.from('v'), bad), sample]);
    const raw = Buffer.concat([Buffer.from([0x0a, ts.length]), ts]);
    const res = await push(env.url, Buffer.from(compress(raw)));
    expect(res.status).toBe(400);
    expect(res.text).toContain('(tributary: invalid_utf8)');
  });

  it('drops samples too far in the future, keeps the series\' other samples', async () => {
    const t = now();
    const res = await push(env.url, body([series({ __name__: 'future', cluster: 'edge-a' }, [[1, t], [2, t + 3_600_000]])]));
    expect(res.status).toBe(400);
    expect(res.text).toContain('(future_grace of tenant team-a)');
    expect(res.text).toContain('(tributary: too_far_in_future)');
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'future'), 'the good sample');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'future');
    expect(ts?.samples.map((s) => Number(s.timestamp))).toEqual([t]);
  });

  it('drops native histograms for a backend that does not accept them, and counts them', async () => {
    const t = now();
    const payload = body([
      series({ __name__: 'hist', cluster: 'edge-a' }, [], { histograms: [{ count_int: 3, sum: 1, schema: 0, positive_spans: [{ offset: 0, length: 1 }], positive_deltas: [3], timestamp: t }] }),
      series({ __name__: 'plain', cluster: 'edge-a' }, [[1, t]]),
    ]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'plain'), 'the float series');
    expect(env.received().some((ts) => labelsOf(ts).__name__ === 'hist')).toBe(false);
    expect(metricValue(await env.metricsText(), 'tributary_route_dropped_samples_total', { backend: 'sink', reason: 'native_histograms_unsupported' })).toBe(1);
  });

  it('accepts and forwards a metadata-only request', async () => {
    const payload = body([], [{ type: 1, metric_family_name: 'http_requests_total', help: 'Requests.', unit: '' }]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(
      () => env.sink.accepted().some((r) => decodeBody(r.body).metadata.some((m) => m.metric_family_name === 'http_requests_total')),
      'the metadata at the sink',
    );
  });

  it('refuses a series without cluster when the token allows several clusters, and passes each allowed one', async () => {
    const res = await push(env.url, body([series({ __name__: 'multi', cluster: 'm-2' }, [[1, now()]]), series({ __name__: 'multi_none' }, [[1, now()]])]), TOKEN_MULTI);
    expect(res.status).toBe(400);
    expect(res.text).toContain('may write several clusters ("m-1", "m-2"), so none can be injected');
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'multi'), 'the m-2 series');
  });

  it('with the override policy rewrites a foreign cluster and keeps the original in exported_cluster', async () => {
    const res = await push(env.url, body([series({ __name__: 'overridden', cluster: 'kube-east' }, [[1, now()]])]), TOKEN_OVERRIDE);
    expect(res.status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'overridden'), 'the overridden series');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'overridden');
    expect(ts && labelsOf(ts)).toEqual({ __name__: 'overridden', cluster: 'edge-o', exported_cluster: 'kube-east' });
  });

  it('keeps every sample and their order when the backend fails with 5xx for a while', async () => {
    let failures = 0;
    env.sink.respond = () => (failures++ < 3 ? { status: 503, body: 'not now' } : { status: 204 });
    const t0 = now() - 60_000;
    for (let i = 0; i < 20; i++) {
      const res = await push(env.url, body([series({ __name__: 'ordered', cluster: 'edge-a' }, [[i, t0 + i * 1000]])]));
      expect(res.status).toBe(204);
    }
    await eventually(() => env.received().filter((ts) => labelsOf(ts).__name__ === 'ordered').length === 20, 'all 20 samples', 10_000);
    const values = env.received()
      .filter((ts) => labelsOf(ts).__name__ === 'ordered')
      .flatMap((ts) => ts.samples.map((s) => s.value));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(metricValue(await env.metricsText(), 'tributary_forward_retries_total', { backend: 'sink', code: '503' })).toBeGreaterThanOrEqual(3);
  });

  it('does not retry a batch the backend answers 400, counts it, and goes on', async () => {
    const before = env.sink.requests.length;
    env.sink.respond = ({ body: b }) =>
      decodeBody(b).timeseries.some((ts) => labelsOf(ts).__name__ === 'poison') ? { status: 400, body: 'out of order sample' } : { status: 204 };
    expect((await push(env.url, body([series({ __name__: 'poison', cluster: 'edge-a' }, [[1, now()]])]))).status).toBe(204);
    expect((await push(env.url, body([series({ __name__: 'after_poison', cluster: 'edge-a' }, [[1, now()]])]))).status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'after_poison'), 'the next batch');
    const poisonAttempts = env.sink.requests.slice(before).filter((r) => decodeBody(r.body).timeseries.some((ts) => labelsOf(ts).__name__ === 'poison'));
    expect(poisonAttempts).toHaveLength(1);
    expect(metricValue(await env.metricsText(), 'tributary_forward_samples_total', { backend: 'sink', result: 'rejected' })).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['no token', null, {}, 401, 'missing_token'],
    ['an unknown token', 'trib_nope', {}, 401, 'unknown_token'],
    ['gzip encoding', TOKEN_A, { 'content-encoding': 'gzip' }, 415, 'unsupported_encoding'],
    ['a JSON content type', TOKEN_A, { 'content-type': 'application/json' }, 415, 'unsupported_content_type'],
    ['remote write 2.0', TOKEN_A, { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }, 415, 'unsupported_content_type'],
  ])('answers %s with %s', async (_name, token, headers, status, reason) => {
    const res = await push(env.url, body([series({ __name__: 'x', cluster: 'edge-a' }, [[1, now()]])]), token, headers);
    expect(res.status).toBe(status);
    expect(res.text).toContain(`(tributary: ${reason})`);
    expect(res.text).not.toContain(TOKEN_A);
  });

  it.each([
    ['raw protobuf without snappy', () => reference.encode({ timeseries: [series({ __name__: 'x' }, [[1, 1]])] }), 'bad_snappy'],
    ['a snappy header declaring more than max_decoded_bytes', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), 'decoded_too_large'],
    ['an empty body', () => Buffer.alloc(0), 'bad_snappy'],
    ['valid snappy of broken protobuf', () => Buffer.from(compress(Buffer.from([0x0a, 0x50, 0x01]))), 'bad_protobuf'],
  ])('answers 400 to %s', async (_name, make, reason) => {
    const res = await push(env.url, make());
    expect(res.status).toBe(400);
    expect(res.text).toContain(`(tributary: ${reason})`);
  });

  it('answers 413 to a body over max_body_bytes, naming the limit', async () => {
    const res = await push(env.url, Buffer.alloc(300_000, 1));
    expect(res.status).toBe(413);
    expect(res.text).toContain('server.max_body_bytes');
  });

  it('answers 405 to GET on the write path', async () => {
    const res = await fetch(`${env.url}/api/v1/write`);
    expect(res.status).toBe(405);
  });

  it('exports per-tenant and per-cluster metrics, health and readiness', async () => {
    expect((await push(env.url, body([series({ __name__: 'metrics_check', cluster: 'edge-a' }, [[1, now()]])]))).status).toBe(204);
    const text = await env.metricsText();
    expect(metricValue(text, 'tributary_cluster_last_push_timestamp_seconds', { tenant: 'team-a', cluster: 'edge-a' })).toBeGreaterThan(now() / 1000 - 60);
    expect(metricValue(text, 'tributary_ingest_requests_total', { tenant: 'team-a', code: '204' })).toBeGreaterThan(0);
    expect(metricValue(text, 'tributary_ingest_accepted_samples_total', { tenant: 'team-a' })).toBeGreaterThan(0);
    expect(text).toContain('tributary_queue_items{backend="sink"}');
    expect((await fetch(`${env.url}/-/healthy`)).status).toBe(200);
    expect((await fetch(`${env.url}/-/ready`)).status).toBe(200);
  });
});

describe('write path with a backend that takes native histograms and a tenant label', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('    accepts_native_histograms: true\n    tenant_label: tenant\n');
  });
  afterAll(async () => {
    await env.close();
  });

  it('forwards histograms unchanged and adds the tenant label in sorted position', async () => {
    const t = now();
    const hist = { count_int: 3, sum: 1.5, schema: 1, zero_threshold: 0.001, zero_count_int: 1, positive_spans: [{ offset: -1, length: 2 }], positive_deltas: [1, 0], reset_hint: 2, timestamp: t };
    const res = await push(env.url, body([series({ __name__: 'hist', cluster: 'edge-a', zone: 'z' }, [], { histograms: [hist] })]));
    expect(res.status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'hist'), 'the histogram series');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'hist');
    expect(ts?.labels.map((l) => `${l.name}=${l.value}`)).toEqual(['__name__=hist', 'cluster=edge-a', 'tenant=team-a', 'zone=z']);
    expect(ts?.histograms).toHaveLength(1);
    expect(ts?.histograms[0]?.positive_deltas).toEqual(['1', '0']);
    expect(ts?.histograms[0]?.timestamp).toBe(String(t));
  });

  it('replaces a tenant label the sender set: the tenant is authoritative', async () => {
    expect((await push(env.url, body([series({ __name__: 'spoof', cluster: 'edge-a', tenant: 'team-b' }, [[1, now()]])]))).status).toBe(204);
    await eventually(() => env.received().some((ts) => labelsOf(ts).__name__ === 'spoof'), 'the series');
    const ts = env.received().find((s) => labelsOf(s).__name__ === 'spoof');
    expect(ts && labelsOf(ts).tenant).toBe('team-a');
  });
});

describe('backpressure', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('    max_queue_bytes: 200\n');
  });
  afterAll(async () => {
    env.sink.respond = () => ({ status: 204 });
    await env.close();
  });

  it('answers 503 with Retry-After when the queue is full, and accepts again once it drained', async () => {
    env.sink.respond = () => ({ status: 503 });
    const big = (i: number) => body([series({ __name__: 'fill', cluster: 'edge-a', i: String(i), pad: 'x'.repeat(150) }, [[1, now()]])]);
    let refused: { status: number; text: string; headers: Headers } | undefined;
    for (let i = 0; i < 10 && refused === undefined; i++) {
      const res = await push(env.url, big(i));
      if (res.status !== 204) refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused?.text).toContain('(tributary: queue_full)');
    env.sink.respond = () => ({ status: 204 });
    await eventually(async () => (await push(env.url, big(99))).status === 204, 'ingest accepted again', 10_000, 100);
  });
});

describe('config reload', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('applies a new token and tenant policy, and refuses a bad file keeping the config in force', async () => {
    const config = join(env.dir, 'tributary.yml');
    const original = readFileSync(config, 'utf8');
    const newToken = 'trib_added-by-reload';
    const payload = () => body([series({ __name__: 'reloaded', cluster: 'edge-new' }, [[1, now()]])]);
    expect((await push(env.url, payload(), newToken)).status).toBe(401);

    writeFileSync(config, original.replace('tokens:\n', `tokens:\n  - {tenant: team-n, clusters: [edge-new], token_sha256: ${sha(newToken)}}\n`));
    expect(env.server.reload()).toBe(true);
    expect((await push(env.url, payload(), newToken)).status).toBe(204);

    writeFileSync(config, `${original}\nnot_a_key: 1\n`);
    expect(env.server.reload()).toBe(false);
    expect(metricValue(await env.metricsText(), 'tributary_config_last_reload_successful', {})).toBe(0);
    // The previous config (with the new token) stays in force.
    expect((await push(env.url, payload(), newToken)).status).toBe(204);
  });
});
