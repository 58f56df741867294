import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { BackendConfig } from '../../../src/config/schema.js';
import { BackendForwarder } from '../../../src/forward/forwarder.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { MemoryQueue } from '../../../src/queue/memory-queue.js';
import { HttpSink, backendConfig, counterValue, decodeWriteRequest, eventually, freePort, makeItem } from '../../support/forward-helpers.js';

const USER_AGENT = 'tributary/0.0.0-test';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

interface Harness {
  queue: MemoryQueue;
  metrics: Metrics;
  logs: LogLine[];
  forwarder: BackendForwarder;
  backend: BackendConfig;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Build queue, metrics (fresh registry), capturing logger and forwarder; stopped after the test. */
function harness(backend: BackendConfig): Harness {
  const queue = new MemoryQueue({ backends: [{ name: backend.name, shards: backend.shards, maxQueueBytes: backend.max_queue_bytes }] });
  const metrics = new Metrics(new Registry());
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const forwarder = new BackendForwarder({ backend, queue, metrics, logger, userAgent: USER_AGENT });
  cleanups.push(() => forwarder.stop({ drainTimeoutMs: 0 }));
  return { queue, metrics, logs, forwarder, backend };
}

async function startSink(...args: Parameters<typeof HttpSink.start>): Promise<HttpSink> {
  const sink = await HttpSink.start(...args);
  cleanups.push(() => sink.close());
  return sink;
}

function queueEmpty(h: Harness): () => boolean {
  return () => h.queue.stats(h.backend.name).items === 0;
}

describe('BackendForwarder', () => {
  it('(a) retries 503 until accepted: every batch once, in order per shard, retries counted', async () => {
    const sink = await startSink({ respond: ({ index }) => (index < 3 ? { status: 503, body: 'overloaded' } : { status: 204 }) });
    // One sample per item and two per send: several requests per shard, so order is observable.
    const h = harness(backendConfig(sink.url, { shards: 2, max_samples_per_send: 2 }));
    const expected: Record<number, string[]> = { 0: [], 1: [] };
    for (let i = 0; i < 6; i++) {
      for (const shard of [0, 1]) {
        const batch = `s${shard}-${i}`;
        expected[shard]!.push(batch);
        await h.queue.append([makeItem({ backend: 'central', shard, batch })]);
      }
    }
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');

    const stored = sink.acceptedBatchLabels();
    expect([...stored].sort()).toEqual([...expected[0]!, ...expected[1]!].sort());
    expect(stored.filter((b) => b.startsWith('s0-'))).toEqual(expected[0]);
    expect(stored.filter((b) => b.startsWith('s1-'))).toEqual(expected[1]);

    expect(await counterValue(h.metrics.forwardRetries, { backend: 'central', code: '503' })).toBe(3);
    expect(await counterValue(h.metrics.forwardRequests, { backend: 'central', code: '503' })).toBe(3);
    expect(await counterValue(h.metrics.forwardRequests, { backend: 'central', code: '204' })).toBe(6);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'sent' })).toBe(12);
    expect(h.logs.some((l) => l.level === 40 && l.code === '503' && l.message === 'overloaded')).toBe(true);
    const durations = (await h.metrics.forwardDuration.get()).values;
    expect(durations.find((v) => v.metricName === 'tributary_forward_request_duration_seconds_count')?.value).toBe(9);
  });

  it('(b) honours Retry-After on 429', async () => {
    const sink = await startSink({
      respond: ({ index }) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: 'slow down' } : { status: 204 }),
    });
    const h = harness(backendConfig(sink.url));
    await h.queue.append([makeItem({ backend: 'central', batch: 'only' })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    const [first, second] = sink.requests;
    expect(second!.receivedAtMs - first!.receivedAtMs).toBeGreaterThanOrEqual(950);
    expect(await counterValue(h.metrics.forwardRetries, { backend: 'central', code: '429' })).toBe(1);
  });

  it('(c) drops a batch the backend rejects with 400, counts and logs it, and goes on', async () => {
    const sink = await startSink({ respond: ({ index }) => (index === 0 ? { status: 400, body: 'out of order sample' } : { status: 204 }) });
    const h = harness(backendConfig(sink.url, { max_samples_per_send: 3 }));
    await h.queue.append([makeItem({ backend: 'central', batch: 'bad', tenant: 'team-x', samplesPerSeries: 3 })]);
    await h.queue.append([makeItem({ backend: 'central', batch: 'good', samplesPerSeries: 2 })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');

    expect(sink.requests).toHaveLength(2);
    expect(sink.acceptedBatchLabels()).toEqual(['good']);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'rejected' })).toBe(3);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'sent' })).toBe(2);
    expect(await counterValue(h.metrics.forwardRequests, { backend: 'central', code: '400' })).toBe(1);
    expect((await h.metrics.forwardRetries.get()).values).toHaveLength(0);
    const logged = h.logs.find((l) => l.level === 50);
    expect(logged).toMatchObject({ backend: 'central', status: 400, message: 'out of order sample', samples: 3, tenant: 'team-x' });
  });

  it('(c2) a rejected merged batch is resent item by item, so only the offending item is dropped', async () => {
    const sink = await startSink({
      respond: ({ body }) =>
        decodeWriteRequest(body).some((s) => s.labels.batch === 'bad') ? { status: 400, body: 'bad series' } : { status: 204 },
    });
    const h = harness(backendConfig(sink.url));
    await h.queue.append(['one', 'bad', 'two'].map((batch) => makeItem({ backend: 'central', batch })));
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.acceptedBatchLabels()).toEqual(['one', 'two']);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'rejected' })).toBe(1);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'sent' })).toBe(2);
  });

  it('(d) loses nothing while the backend refuses connections, then delivers once it is up', async () => {
    const port = await freePort();
    const h = harness(backendConfig(`http://127.0.0.1:${port}/api/v1/write`, { max_samples_per_send: 1 }));
    await h.queue.append(['b0', 'b1', 'b2'].map((batch) => makeItem({ backend: 'central', batch })));
    h.forwarder.start();
    await eventually(async () => (await counterValue(h.metrics.forwardRetries, { backend: 'central', code: 'network' })) >= 2, 'network retries');
    expect(h.queue.stats('central').items).toBe(3);

    const sink = await startSink({ port });
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.acceptedBatchLabels()).toEqual(['b0', 'b1', 'b2']);
    expect(await counterValue(h.metrics.forwardRequests, { backend: 'central', code: 'network' })).toBeGreaterThanOrEqual(2);
  });

  describe('(e) request headers', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tributary-forward-'));
      writeFileSync(join(dir, 'token'), 's3cret-token\n');
      writeFileSync(join(dir, 'password'), 'pa:ss\n');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('sends protocol headers, extra headers, the bearer token and the tenant header', async () => {
      const sink = await startSink();
      const h = harness(
        backendConfig(sink.url, { headers: { 'X-Extra': 'yes' }, bearer_token_file: join(dir, 'token'), tenant_header: 'X-Scope-OrgID' }),
      );
      // Different tenants are never merged when the tenant travels in a header.
      await h.queue.append([
        makeItem({ backend: 'central', batch: 'a1', tenant: 'team-a' }),
        makeItem({ backend: 'central', batch: 'a2', tenant: 'team-a' }),
        makeItem({ backend: 'central', batch: 'b1', tenant: 'team-b' }),
      ]);
      h.forwarder.start();
      await eventually(queueEmpty(h), 'queue drained');

      expect(sink.requests).toHaveLength(2);
      const [first, second] = sink.requests;
      expect(first!.headers).toMatchObject({
        'content-encoding': 'snappy',
        'content-type': 'application/x-protobuf',
        'x-prometheus-remote-write-version': '0.1.0',
        'user-agent': USER_AGENT,
        'x-extra': 'yes',
        authorization: 'Bearer s3cret-token',
        'x-scope-orgid': 'team-a',
      });
      expect(decodeWriteRequest(first!.body).map((s) => s.labels.batch)).toEqual(['a1', 'a2']);
      expect(second!.headers['x-scope-orgid']).toBe('team-b');
      expect(decodeWriteRequest(second!.body).map((s) => s.labels.batch)).toEqual(['b1']);
      // The secret never reaches the logs.
      expect(JSON.stringify(h.logs)).not.toContain('s3cret');
    });

    it('sends basic auth with the password from its file, and no tenant header unless configured', async () => {
      const sink = await startSink();
      const h = harness(backendConfig(sink.url, { basic_auth: { username: 'edge', password_file: join(dir, 'password') } }));
      await h.queue.append([makeItem({ backend: 'central', batch: 'x', tenant: 'team-a' }), makeItem({ backend: 'central', batch: 'y', tenant: 'team-b' })]);
      h.forwarder.start();
      await eventually(queueEmpty(h), 'queue drained');
      expect(sink.requests).toHaveLength(1);
      expect(sink.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('edge:pa:ss').toString('base64')}`);
      expect(sink.requests[0]!.headers['x-scope-orgid']).toBeUndefined();
    });

    it('fails at construction when a secret file is missing', () => {
      expect(() => harness(backendConfig('http://127.0.0.1:1/api/v1/write', { bearer_token_file: join(dir, 'nope') }))).toThrow(/ENOENT/);
    });
  });

  it('(f) merges small items up to max_samples_per_send, series in order; a lone item goes as queued', async () => {
    const sink = await startSink();
    const h = harness(backendConfig(sink.url, { max_samples_per_send: 6 }));
    const items = ['m0', 'm1', 'm2', 'm3', 'm4'].map((batch) => makeItem({ backend: 'central', batch, seriesCount: 2 }));
    await h.queue.append(items);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');

    expect(sink.requests).toHaveLength(2);
    const series = (i: number): string[] => decodeWriteRequest(sink.requests[i]!.body).map((s) => `${s.labels.batch}/${s.labels.series}`);
    expect(series(0)).toEqual(['m0/0', 'm0/1', 'm1/0', 'm1/1', 'm2/0', 'm2/1']);
    expect(series(1)).toEqual(['m3/0', 'm3/1', 'm4/0', 'm4/1']);

    const lone = makeItem({ backend: 'central', batch: 'lone', seriesCount: 3 });
    await h.queue.append([lone]);
    await eventually(() => sink.requests.length === 3, 'third request');
    expect(sink.requests[2]!.body.equals(lone.payload)).toBe(true);
  });

  it('(f2) with batch_send_deadline, waits for a partial batch to fill up', async () => {
    const sink = await startSink();
    const h = harness(backendConfig(sink.url, { max_samples_per_send: 4, batch_send_deadline: 500 }));
    h.forwarder.start();
    await h.queue.append([makeItem({ backend: 'central', batch: 'p0' })]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await h.queue.append([makeItem({ backend: 'central', batch: 'p1' })]);
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.requests).toHaveLength(1);
    expect(sink.acceptedBatchLabels()).toEqual(['p0', 'p1']);
  });

  it('(f3) with batch_send_deadline, a full batch goes at once', async () => {
    const sink = await startSink();
    // A deadline far beyond the polling timeout: the test fails if the forwarder waits for it.
    const h = harness(backendConfig(sink.url, { max_samples_per_send: 4, batch_send_deadline: 60_000 }));
    h.forwarder.start();
    await h.queue.append([makeItem({ backend: 'central', batch: 'full', samplesPerSeries: 4 })]);
    await eventually(() => sink.requests.length === 1, 'full batch sent');
    await h.queue.append([makeItem({ backend: 'central', batch: 'x', samplesPerSeries: 3 }), makeItem({ backend: 'central', batch: 'y', samplesPerSeries: 3 })]);
    // x cannot take y along (6 > 4), so x is full as it is.
    await eventually(() => sink.requests.length === 2, 'batch whose next item does not fit sent');
    expect(sink.acceptedBatchLabels()).toEqual(['full', 'x']);
  });

  it('(g) stop() drains what is queued before resolving', async () => {
    const sink = await startSink({ respond: ({ index }) => (index < 2 ? { status: 500 } : { status: 204 }) });
    const h = harness(backendConfig(sink.url, { shards: 2, max_samples_per_send: 1 }));
    h.forwarder.start();
    const batches: string[] = [];
    for (let i = 0; i < 8; i++) {
      batches.push(`d${i}`);
      await h.queue.append([makeItem({ backend: 'central', shard: i % 2, batch: `d${i}` })]);
    }
    await h.forwarder.stop({ drainTimeoutMs: 4000 });
    expect(h.queue.stats('central').items).toBe(0);
    expect(sink.acceptedBatchLabels().sort()).toEqual(batches.sort());
  });

  it('(g2) stop() gives up after the drain timeout, keeping unsent batches queued', async () => {
    const sink = await startSink({ respond: () => ({ status: 503 }) });
    const h = harness(backendConfig(sink.url));
    await h.queue.append([makeItem({ backend: 'central', batch: 'stuck' })]);
    h.forwarder.start();
    await eventually(() => sink.requests.length >= 1, 'first attempt');
    const started = performance.now();
    await h.forwarder.stop({ drainTimeoutMs: 100 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(h.queue.stats('central').items).toBe(1);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'sent' })).toBe(0);
    expect(h.logs.some((l) => l.level === 40 && /before its queue was drained/.test(l.msg))).toBe(true);
  });

  it('(g3) stop() aborts a send the backend never answers', async () => {
    const port = await freePort();
    // A server that accepts the connection and never answers.
    const { createServer } = await import('node:net');
    const sockets: Array<import('node:net').Socket> = [];
    const silent = createServer((socket) => sockets.push(socket)).listen(port, '127.0.0.1');
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const h = harness(backendConfig(`http://127.0.0.1:${port}/api/v1/write`, { remote_timeout: 60_000 }));
    await h.queue.append([makeItem({ backend: 'central', batch: 'hang' })]);
    h.forwarder.start();
    await eventually(() => sockets.length > 0, 'connection opened');
    const started = performance.now();
    await h.forwarder.stop({ drainTimeoutMs: 50 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(h.queue.stats('central').items).toBe(1);
    // An aborted send is not a backend answer: nothing counted.
    expect((await h.metrics.forwardRequests.get()).values).toHaveLength(0);
  });

  it('survives a bug in the loop: logs BUG, backs off, and still delivers the batch', async () => {
    const sink = await startSink();
    const backend = backendConfig(sink.url);
    const h = harness(backend);
    // A queue whose first peek throws, standing in for any unexpected exception in the loop.
    let failures = 1;
    const faulty = Object.create(h.queue) as MemoryQueue;
    faulty.peek = (...args: Parameters<MemoryQueue['peek']>) => {
      if (failures-- > 0) throw new Error('injected fault');
      return h.queue.peek(...args);
    };
    const logs: LogLine[] = [];
    const forwarder = new BackendForwarder({
      backend,
      queue: faulty,
      metrics: h.metrics,
      logger: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) }),
      userAgent: USER_AGENT,
    });
    cleanups.push(() => forwarder.stop({ drainTimeoutMs: 0 }));
    await h.queue.append([makeItem({ backend: 'central', batch: 'survivor' })]);
    forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.acceptedBatchLabels()).toEqual(['survivor']);
    const bug = logs.find((l) => l.level === 50);
    expect(bug?.msg).toMatch(/^BUG/);
    expect(JSON.stringify(bug?.err)).toContain('injected fault');
  });

  it('retries a request that times out (remote_timeout) with code "timeout"', async () => {
    const { createServer } = await import('node:http');
    const port = await freePort();
    let requests = 0;
    // The first request is never answered; later ones are.
    const server = createServer((req, res) => {
      if (requests++ === 0) return;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    }).listen(port, '127.0.0.1');
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const h = harness(backendConfig(`http://127.0.0.1:${port}/api/v1/write`, { remote_timeout: 200 }));
    await h.queue.append([makeItem({ backend: 'central', batch: 't' })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(requests).toBe(2);
    expect(await counterValue(h.metrics.forwardRetries, { backend: 'central', code: 'timeout' })).toBe(1);
    expect(await counterValue(h.metrics.forwardSamples, { backend: 'central', result: 'sent' })).toBe(1);
  });
});
