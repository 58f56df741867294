/**
 * The per-series high-water mark through the whole write path (startServer, HTTP, queue,
 * forwarder, a fake backend): resends reach the backend once, a stale sample does not sink the
 * good ones of its request, and a 503 from a full queue does not make the retry look like a resend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type HttpSink } from '../support/forward-helpers.js';
import type { RefTimeSeriesInput } from '../support/reference-codec.js';
import { type Env, body, decodeBody, metricValue, push, startEnv } from '../support/write-env.js';

function series(name: string, timestamps: number[]): RefTimeSeriesInput {
  return {
    labels: [
      { name: '__name__', value: name },
      { name: 'cluster', value: 'edge-a' },
      { name: 'job', value: 'hwm' },
    ],
    samples: timestamps.map((timestamp, i) => ({ value: i + 1, timestamp })),
  };
}

const envs: Env[] = [];

/** tributary in front of a fake backend with one shard, so the order of sends is the order of arrival. */
async function startHwmEnv(backendYaml = ''): Promise<Env> {
  const env = await startEnv(`    shards: 1\n${backendYaml}`);
  envs.push(env);
  return env;
}

afterEach(async () => {
  for (const env of envs.splice(0)) await env.close();
});

/** Every sample the sink stored (2xx), as [series name, timestamp], in arrival order. */
function stored(sink: HttpSink): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const request of sink.accepted()) {
    const decoded = decodeBody(request.body);
    for (const ts of decoded.timeseries) {
      const name = ts.labels.find((l) => l.name === '__name__')?.value ?? '?';
      for (const s of ts.samples) out.push([name, Number(s.timestamp)]);
    }
  }
  return out;
}

/** Until every queued batch was delivered (the queue depth gauge at 0). */
async function drained(env: Env): Promise<void> {
  await eventually(async () => metricValue(await env.metricsText(), 'tributary_queue_items', { backend: 'sink' }) === 0, 'the queue to drain');
}

describe('high-water mark through the write path', () => {
  it('answers a resent request 204 and forwards its samples once', async () => {
    const env = await startHwmEnv();
    const t = Date.now() - 60_000;
    const payload = body([series('resent_a', [t - 15_000, t]), series('resent_b', [t])]);
    expect((await push(env.url, payload)).status).toBe(204);
    await eventually(() => stored(env.sink).length === 3, 'the first copy at the sink');
    // The edge timed out and sends the same request again.
    expect((await push(env.url, payload)).status).toBe(204);
    expect((await push(env.url, payload)).status).toBe(204);
    await drained(env);
    expect(stored(env.sink)).toEqual([
      ['resent_a', t - 15_000],
      ['resent_a', t],
      ['resent_b', t],
    ]);
    const metrics = await env.metricsText();
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'duplicate_sample' })).toBe(4);
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'out_of_order' })).toBe(2);
    expect(metricValue(metrics, 'tributary_ingest_accepted_samples_total', { tenant: 'team-a' })).toBe(3);
    expect(metricValue(metrics, 'tributary_ingest_received_samples_total', { tenant: 'team-a' })).toBe(9);
  });

  it('drops one out-of-order sample, counts it, and forwards the good samples of its request', async () => {
    const env = await startHwmEnv();
    const t = Date.now() - 60_000;
    expect((await push(env.url, body([series('ooo_x', [t])]))).status).toBe(204);
    await eventually(() => stored(env.sink).length === 1, 'the first sample');
    // Another cluster shard's good data, with one stale sample of ooo_x in the middle.
    const res = await push(env.url, body([series('ooo_y', [t]), series('ooo_x', [t - 30_000]), series('ooo_z', [t, t + 15_000])]));
    expect(res.status).toBe(204);
    await drained(env);
    expect(stored(env.sink)).toEqual([
      ['ooo_x', t],
      ['ooo_y', t],
      ['ooo_z', t],
      ['ooo_z', t + 15_000],
    ]);
    const metrics = await env.metricsText();
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'out_of_order' })).toBe(1);
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'duplicate_sample' })).toBe(0);
  });

  it('a 503 from a full queue does not poison the retry: once the queue drained, the retried samples arrive', async () => {
    const t = Date.now() - 60_000;
    const first = body([series('full_first', [t])]);
    const second = body([series('full_second', [t])]);
    // Room for the first request but not for both: the second passes the pre-check (queue below
    // its cap), runs through the pipeline, and only its append is refused.
    const cap = first.length + Math.floor(second.length / 2);
    const env = await startHwmEnv(`    max_queue_bytes: ${cap}\n`);
    env.sink.respond = () => ({ status: 503 });
    expect((await push(env.url, first)).status).toBe(204);
    const refused = await push(env.url, second);
    expect(refused.status).toBe(503);
    expect(refused.text).toContain('queue_full');

    env.sink.respond = () => ({ status: 204 });
    await eventually(() => stored(env.sink).some(([name]) => name === 'full_first'), 'the backlog delivered');
    await drained(env);
    // The edge retries the refused request as it was.
    expect((await push(env.url, second)).status).toBe(204);
    await eventually(() => stored(env.sink).some(([name]) => name === 'full_second'), 'the retried samples at the sink');
    expect(stored(env.sink)).toEqual([
      ['full_first', t],
      ['full_second', t],
    ]);
    const metrics = await env.metricsText();
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a' })).toBe(0);
  });
});
