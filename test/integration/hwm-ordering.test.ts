/**
 * The per-series high-water mark through the whole write path (startServer, HTTP, queue,
 * forwarder, a fake backend): resends reach the backend once, a stale sample does not sink the
 * good ones of its request, and a 503 from a full queue does not make the retry look like a resend.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compress, uncompress } from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Running, startServer } from '../../src/server.js';
import { eventually, HttpSink } from '../support/forward-helpers.js';
import { type RefTimeSeriesInput, type RefWriteRequest, reference } from '../support/reference-codec.js';

const TOKEN = 'trib_test-token-hwm-a';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

function body(timeseries: RefTimeSeriesInput[]): Buffer {
  return Buffer.from(compress(reference.encode({ timeseries })));
}

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

interface Env {
  sink: HttpSink;
  server: Running;
  url: string;
  close(): Promise<void>;
}

const envs: Env[] = [];

async function startEnv(backendYaml = ''): Promise<Env> {
  const sink = await HttpSink.start();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-hwm-'));
  const config = join(dir, 'tributary.yml');
  writeFileSync(
    config,
    `server:
  listen_address: 127.0.0.1:0
data_dir: ${join(dir, 'data')}
tokens:
  - {tenant: team-a, clusters: [edge-a], token_sha256: ${sha(TOKEN)}}
backends:
  - name: sink
    url: ${sink.url}
    shards: 1
    min_backoff: 10ms
    max_backoff: 50ms
${backendYaml}`,
  );
  const server = await startServer(config, pino({ level: 'silent' }));
  const env: Env = {
    sink,
    server,
    url: `http://${server.address}`,
    close: async () => {
      await server.close();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  envs.push(env);
  return env;
}

afterEach(async () => {
  for (const env of envs.splice(0)) await env.close();
});

async function push(url: string, payload: Buffer): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/api/v1/write`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
    body: payload,
  });
  return { status: res.status, text: await res.text() };
}

/** Every sample the sink stored (2xx), as [series name, timestamp], in arrival order. */
function stored(sink: HttpSink): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const request of sink.accepted()) {
    const decoded: RefWriteRequest = reference.decode(Buffer.from(uncompress(request.body)));
    for (const ts of decoded.timeseries) {
      const name = ts.labels.find((l) => l.name === '__name__')?.value ?? '?';
      for (const s of ts.samples) out.push([name, Number(s.timestamp)]);
    }
  }
  return out;
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function metricsText(env: Env): Promise<string> {
  return (await fetch(`${env.url}/metrics`)).text();
}

/** Until every queued batch was delivered (the queue depth gauge at 0). */
async function drained(env: Env): Promise<void> {
  await eventually(async () => metricValue(await metricsText(env), 'tributary_queue_items', { backend: 'sink' }) === 0, 'the queue to drain');
}

describe('high-water mark through the write path', () => {
  it('answers a resent request 204 and forwards its samples once', async () => {
    const env = await startEnv();
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
    const metrics = await metricsText(env);
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'duplicate_sample' })).toBe(4);
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a', reason: 'out_of_order' })).toBe(2);
    expect(metricValue(metrics, 'tributary_ingest_accepted_samples_total', { tenant: 'team-a' })).toBe(3);
    expect(metricValue(metrics, 'tributary_ingest_received_samples_total', { tenant: 'team-a' })).toBe(9);
  });

  it('drops one out-of-order sample, counts it, and forwards the good samples of its request', async () => {
    const env = await startEnv();
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
    const metrics = await metricsText(env);
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
    const env = await startEnv(`    max_queue_bytes: ${cap}\n`);
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
    const metrics = await metricsText(env);
    expect(metricValue(metrics, 'tributary_ingest_dropped_samples_total', { tenant: 'team-a' })).toBe(0);
  });
});
