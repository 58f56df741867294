/**
 * The forwarder never lets one bad series, a size limit or a poison batch cost good data: refused
 * batches are bisected down to the series at fault (400), split and sent smaller (413), poison 5xx
 * batches are told from outages and isolated, and two backends never wait for each other. The
 * fake backend answers per series content, read with the reference codec.
 */
import { createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { uncompress } from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendConfig } from '../../../src/config/schema.js';
import { BackendForwarder, type BackendForwarderOptions, MAX_SPLIT_SENDS_PER_BATCH } from '../../../src/forward/forwarder.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { MemoryQueue } from '../../../src/queue/memory-queue.js';
import {
  HttpSink,
  type SinkReply,
  type SinkRequest,
  backendConfig,
  counterValue,
  eventually,
  freePort,
  labelsOf,
  makeItem,
  referenceDecode,
  seriesItem,
  testSeries,
} from '../../support/forward-helpers.js';

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
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Queue, metrics, capturing logger and a forwarder per backend (all on one queue); stopped after the test. */
function harness(backends: BackendConfig[], options: Partial<BackendForwarderOptions> = {}): Harness & { forwarders: BackendForwarder[] } {
  const queue = new MemoryQueue({ backends: backends.map((b) => ({ name: b.name, shards: b.shards, maxQueueBytes: b.max_queue_bytes })) });
  const metrics = new Metrics(new Registry());
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const forwarders = backends.map((backend) => {
    const forwarder = new BackendForwarder({ ...options, backend, queue, metrics, logger, userAgent: 'tributary/test' });
    cleanups.push(() => forwarder.stop({ drainTimeoutMs: 0 }));
    return forwarder;
  });
  return { queue, metrics, logs, forwarder: forwarders[0] as BackendForwarder, forwarders };
}

async function startSink(respond: (series: Array<Record<string, string>>, index: number, body: Buffer) => SinkReply): Promise<HttpSink> {
  const sink = await HttpSink.start({
    respond: ({ body, index }) => respond(referenceDecode(body).timeseries.map(labelsOf), index, body),
  });
  cleanups.push(() => sink.close());
  return sink;
}

/** `batch/series` of every series the sink stored (2xx), in arrival order. */
function stored(sink: HttpSink, requests: readonly SinkRequest[] = sink.accepted()): string[] {
  return requests
    .filter((r) => r.status >= 200 && r.status < 300)
    .flatMap((r) => referenceDecode(r.body).timeseries.map((s) => `${labelsOf(s).batch}/${labelsOf(s).series}`));
}

function names(batch: string, count: number, except: readonly number[] = []): string[] {
  return Array.from({ length: count }, (_, i) => i)
    .filter((i) => !except.includes(i))
    .map((i) => `${batch}/${i}`);
}

const queueEmpty = (h: Harness, backend = 'central') => (): boolean => h.queue.stats(backend).items === 0;

const sent = (h: Harness, backend = 'central') => counterValue(h.metrics.forwardSamples, { backend, result: 'sent' });
const rejected = (h: Harness, backend = 'central') => counterValue(h.metrics.forwardSamples, { backend, result: 'rejected' });
const splits = (h: Harness, code: string) => counterValue(h.metrics.forwardSplits, { backend: 'central', code });

const OK: SinkReply = { status: 204 };

describe('400: bisect down to the series at fault', () => {
  it('one bad series among 100 in one item: the 99 others arrive in order; one is dropped, counted and logged', async () => {
    const sink = await startSink((series) => (series.some((l) => l.series === '37') ? { status: 400, body: 'out of order sample' } : OK));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append([seriesItem({ backend: 'central', tenant: 'team-x', series: testSeries('big', 100, 2) })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');

    expect(stored(sink)).toEqual(names('big', 100, [37]));
    expect(await rejected(h)).toBe(2);
    expect(await sent(h)).toBe(198);
    const splitCount = await splits(h, '400');
    // Bisection: about log2(100) splits, each costing two sends.
    expect(splitCount).toBeGreaterThanOrEqual(Math.floor(Math.log2(100)));
    expect(splitCount).toBeLessThanOrEqual(Math.ceil(Math.log2(100)));
    expect(sink.requests).toHaveLength(1 + 2 * splitCount);
    const dropped = h.logs.find((l) => l.level === 50);
    expect(dropped).toMatchObject({ backend: 'central', status: 400, message: 'out of order sample', reason: 'rejected', samples: 2, series: 1, tenant: 'team-x' });
    expect(dropped?.labels).toContain('series="37"');
    expect(dropped?.msg).toContain('series="37"');
  });

  it('a merged batch: split at item boundaries, then inside the item; per-series order kept across items', async () => {
    const sink = await startSink((series) => (series.some((l) => l.bad === 'yes') ? { status: 400, body: 'duplicate sample for timestamp' } : OK));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append(
      ['i0', 'i1', 'i2', 'i3'].map((batch) => seriesItem({ backend: 'central', series: testSeries(batch, 10, 1, (i) => (batch === 'i2' && i === 6 ? { bad: 'yes' } : {})) })),
    );
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(stored(sink)).toEqual([...names('i0', 10), ...names('i1', 10), ...names('i2', 10, [6]), ...names('i3', 10)]);
    expect(await rejected(h)).toBe(1);
    expect(await sent(h)).toBe(39);
  });

  it('a backend that refuses everything costs at most the split budget per batch, then the next batch goes', async () => {
    let refuse = true;
    const sink = await startSink(() => (refuse ? { status: 400, body: 'out of bounds' } : OK));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append([seriesItem({ backend: 'central', series: testSeries('all', 1000) })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.requests).toHaveLength(1 + MAX_SPLIT_SENDS_PER_BATCH);
    expect(await splits(h, '400')).toBe(MAX_SPLIT_SENDS_PER_BATCH / 2);
    expect(await rejected(h)).toBe(1000);
    expect(h.logs.some((l) => l.level === 50 && l.reason === 'split_budget')).toBe(true);

    refuse = false;
    await h.queue.append([makeItem({ backend: 'central', batch: 'next' })]);
    await eventually(queueEmpty(h), 'next batch delivered');
    expect(stored(sink)).toEqual(['next/0']);
  });

  it('items of a split batch are acknowledged as soon as every part carrying them is settled', async () => {
    // The merged batch is refused; its first half (i0) is accepted; the second (i1, i2) then
    // meets an outage: i0 must be off the queue, i1 and i2 still on it.
    const sink = await startSink((series) => {
      const batches = new Set(series.map((l) => l.batch));
      if (batches.has('i0') && batches.has('i2')) return { status: 400, body: 'out of order sample' };
      return batches.has('i2') ? { status: 503, body: 'down' } : OK;
    });
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append(['i0', 'i1', 'i2'].map((batch) => seriesItem({ backend: 'central', series: testSeries(batch, 2) })));
    h.forwarder.start();
    await eventually(async () => (await counterValue(h.metrics.forwardRetries, { backend: 'central', code: '503' })) >= 3, 'second half retried');
    expect(stored(sink)).toEqual(names('i0', 2));
    expect(h.queue.stats('central').items).toBe(2);
    await h.forwarder.stop({ drainTimeoutMs: 0 });
    expect(h.queue.stats('central').items).toBe(2);
    expect(await rejected(h)).toBe(0);
  });

  it('401 (setup, not data): the batch is dropped whole, not split', async () => {
    const sink = await startSink(() => ({ status: 401, body: 'bad token' }));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append(['a', 'b', 'c'].map((batch) => seriesItem({ backend: 'central', series: testSeries(batch, 5) })));
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(sink.requests).toHaveLength(1);
    expect(await rejected(h)).toBe(15);
    expect((await h.metrics.forwardSplits.get()).values).toHaveLength(0);
    expect(h.logs.find((l) => l.level === 50)).toMatchObject({ status: 401, reason: 'setup', message: 'bad token', samples: 15 });
  });
});

describe('413: split, remember a smaller size, never lose data to a size limit', () => {
  const LIMIT = 3000;
  const decodedSize = (r: SinkRequest): number => uncompress(r.body).length;

  it('everything but a series larger than the limit arrives in order; later sends are made smaller beforehand', async () => {
    const sink = await startSink((_series, _index, body) => (uncompress(body).length > LIMIT ? { status: 413, body: 'request body too large' } : OK));
    const h = harness([backendConfig(sink.url)]);
    const huge = testSeries('huge', 1, 1, () => ({ blob: 'x'.repeat(LIMIT) }));
    await h.queue.append([
      seriesItem({ backend: 'central', series: testSeries('big', 80) }),
      seriesItem({ backend: 'central', series: testSeries('s1', 20) }),
      seriesItem({ backend: 'central', series: [...testSeries('s2', 10), ...huge, ...testSeries('s3', 10)] }),
      seriesItem({ backend: 'central', series: testSeries('s4', 20) }),
    ]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');

    expect(stored(sink)).toEqual([...names('big', 80), ...names('s1', 20), ...names('s2', 10), ...names('s3', 10), ...names('s4', 20)]);
    expect(await rejected(h)).toBe(1);
    expect(await sent(h)).toBe(140);
    expect(h.logs.find((l) => l.level === 50)).toMatchObject({ status: 413, reason: 'too_large', series: 1 });
    expect(h.logs.find((l) => l.level === 50)?.msg).toMatch(/huge.*alone is larger than the backend accepts/);
    const firstRefused = sink.requests.find((r) => r.status === 413) as SinkRequest;
    const limit = h.forwarder.maxSendBytes;
    expect(limit).toBeLessThanOrEqual(decodedSize(firstRefused) / 2);
    expect(limit).toBeGreaterThan(LIMIT / 2);
    expect(h.logs.some((l) => l.level === 40 && l.maxSendBytes !== undefined && /HTTP 413/.test(l.msg))).toBe(true);
    expect(await splits(h, '413')).toBeGreaterThan(0);

    // Later: merged batches and a large item are cut to the learned size before sending.
    const before = sink.requests.length;
    await h.queue.append([
      ...['l0', 'l1', 'l2', 'l3', 'l4'].map((batch) => seriesItem({ backend: 'central', series: testSeries(batch, 20) })),
      seriesItem({ backend: 'central', series: testSeries('l5', 120) }),
    ]);
    await eventually(queueEmpty(h), 'second round drained');
    const later = sink.requests.slice(before);
    expect(later.length).toBeGreaterThan(1);
    for (const request of later) expect(decodedSize(request)).toBeLessThanOrEqual(limit);
    if (limit <= LIMIT) expect(later.every((r) => r.status === 204)).toBe(true);
    expect(stored(sink, later)).toEqual(['l0', 'l1', 'l2', 'l3', 'l4'].flatMap((b) => names(b, 20)).concat(names('l5', 120)));
    expect(await rejected(h)).toBe(1);
  });
});

describe('poison 5xx: isolated when the backend is up, retried without limit in an outage', () => {
  it('a series that keeps getting 500 while another shard succeeds is isolated and dropped; the rest is delivered', async () => {
    const sink = await startSink((series) => (series.some((l) => l.poison === 'yes') ? { status: 500, body: 'internal server error' } : OK));
    const h = harness([backendConfig(sink.url, { shards: 2 })]);
    await h.queue.append([seriesItem({ backend: 'central', shard: 0, series: testSeries('p', 20, 1, (i) => (i === 5 ? { poison: 'yes' } : {})) })]);
    // Steady traffic on the other shard, all accepted.
    const background: string[] = [];
    const timer = setInterval(() => {
      const batch = `bg${background.length}`;
      background.push(batch);
      void h.queue.append([makeItem({ backend: 'central', shard: 1, batch })]);
    }, 10);
    cleanups.push(() => clearInterval(timer));
    h.forwarder.start();
    await eventually(async () => (await rejected(h)) === 1 && stored(sink).includes('p/19'), 'poison isolated');
    clearInterval(timer);
    await eventually(queueEmpty(h), 'queue drained');

    const all = stored(sink);
    expect(all.filter((s) => s.startsWith('p/'))).toEqual(names('p', 20, [5]));
    expect(all.filter((s) => s.startsWith('bg'))).toEqual(background.map((b) => `${b}/0`));
    expect(await rejected(h)).toBe(1);
    expect(await splits(h, '500')).toBeGreaterThan(0);
    const dropped = h.logs.find((l) => l.level === 50);
    expect(dropped).toMatchObject({ status: 500, reason: 'poison', message: 'internal server error', series: 1 });
    expect(dropped?.labels).toContain('poison="yes"');
  });

  it("Prometheus's 500 for a fault of the data (duplicate label names) is isolated at once, without retries", async () => {
    const sink = await startSink((series) =>
      series.some((l) => l.series === '3') ? { status: 500, body: 'label name "a" is not unique: invalid sample' } : OK,
    );
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append([seriesItem({ backend: 'central', series: testSeries('d', 8) })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(stored(sink)).toEqual(names('d', 8, [3]));
    expect(await rejected(h)).toBe(1);
    expect((await h.metrics.forwardRetries.get()).values).toHaveLength(0);
    expect(sink.requests).toHaveLength(1 + 2 * (await splits(h, '500')));
  });

  it('one shard: the halves are the signal (one accepted, the other still failing); nothing else is lost', async () => {
    const sink = await startSink((series) => (series.some((l) => l.poison === 'yes') ? { status: 500, body: 'boom' } : OK));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append([
      seriesItem({ backend: 'central', series: testSeries('a', 20, 1, (i) => (i === 13 ? { poison: 'yes' } : {})) }),
      seriesItem({ backend: 'central', series: testSeries('b', 4) }),
    ]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    expect(stored(sink)).toEqual([...names('a', 20, [13]), ...names('b', 4)]);
    expect(await rejected(h)).toBe(1);
    expect(h.logs.find((l) => l.level === 50)).toMatchObject({ status: 500, reason: 'poison', message: 'boom', series: 1 });
  });

  it('one shard, the poison series first: the next part goes first to tell, per-series order kept', async () => {
    const sink = await startSink((series) => (series.some((l) => l.poison === 'yes') ? { status: 500, body: 'boom' } : OK));
    const h = harness([backendConfig(sink.url)]);
    await h.queue.append([seriesItem({ backend: 'central', series: testSeries('a', 9, 1, (i) => (i === 0 ? { poison: 'yes' } : {})) })]);
    await h.queue.append([seriesItem({ backend: 'central', series: testSeries('a', 9) })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    const all = stored(sink);
    // Every series of the first item but the poison one, then every series of the second: the
    // second item's a/0 (a different series: no poison label) after the first's.
    expect([...all].sort()).toEqual([...names('a', 9, [0]), ...names('a', 9)].sort());
    expect(all.slice(-9)).toEqual(names('a', 9));
    expect(await rejected(h)).toBe(1);
    expect(h.logs.some((l) => l.level === 40 && /sending the next part/.test(l.msg))).toBe(true);
    expect(h.logs.find((l) => l.level === 50)).toMatchObject({ status: 500, reason: 'poison', series: 1 });
  });

  it('outage, all 503, two shards: nothing is dropped or split; everything arrives once the backend recovers', async () => {
    const sink = await startSink((_series, index) => (index < 40 ? { status: 503, body: 'unavailable' } : OK));
    const h = harness([backendConfig(sink.url, { shards: 2 })]);
    for (const shard of [0, 1]) await h.queue.append([seriesItem({ backend: 'central', shard, series: testSeries(`s${shard}`, 30) })]);
    h.forwarder.start();
    await eventually(queueEmpty(h), 'queue drained');
    const all = stored(sink);
    expect(all.filter((s) => s.startsWith('s0/'))).toEqual(names('s0', 30));
    expect(all.filter((s) => s.startsWith('s1/'))).toEqual(names('s1', 30));
    expect(await rejected(h)).toBe(0);
    expect((await h.metrics.forwardSplits.get()).values).toHaveLength(0);
    expect(await counterValue(h.metrics.forwardRetries, { backend: 'central', code: '503' })).toBe(40);
  });

  it('outage, connection refused, two shards: nothing is dropped; delivered once the backend is up', async () => {
    const port = await freePort();
    const h = harness([backendConfig(`http://127.0.0.1:${port}/api/v1/write`, { shards: 2 })]);
    for (const shard of [0, 1]) await h.queue.append([seriesItem({ backend: 'central', shard, series: testSeries(`s${shard}`, 30) })]);
    h.forwarder.start();
    await eventually(async () => (await counterValue(h.metrics.forwardRetries, { backend: 'central', code: 'network' })) >= 12, 'retries');
    expect(h.queue.stats('central').items).toBe(2);
    const sink = await HttpSink.start({ port });
    cleanups.push(() => sink.close());
    await eventually(queueEmpty(h), 'queue drained');
    expect([...stored(sink)].sort()).toEqual([...names('s0', 30), ...names('s1', 30)].sort());
    expect(await rejected(h)).toBe(0);
  });

  for (const shards of [1, 2]) {
    it(`outage answering 500 (${shards} shard${shards > 1 ? 's' : ''}): probing splits lose nothing; all arrives after recovery`, async () => {
      let down = true;
      const sink = await startSink(() => (down ? { status: 500, body: 'storage unavailable' } : OK));
      const h = harness([backendConfig(sink.url, { shards })]);
      for (let shard = 0; shard < shards; shard++) {
        await h.queue.append([seriesItem({ backend: 'central', shard, series: testSeries(`s${shard}`, 50) })]);
        await h.queue.append([seriesItem({ backend: 'central', shard, series: testSeries(`t${shard}`, 5) })]);
      }
      h.forwarder.start();
      // Long enough for every level of probing to happen (5 failures per part).
      await eventually(() => sink.requests.length >= 80, 'outage lasted', 4000);
      expect(await rejected(h)).toBe(0);
      expect(await splits(h, '500')).toBeGreaterThan(0);
      down = false;
      await eventually(queueEmpty(h), 'queue drained');
      const all = stored(sink);
      for (let shard = 0; shard < shards; shard++) {
        expect([...all.filter((s) => s.startsWith(`s${shard}/`))].sort()).toEqual(names(`s${shard}`, 50).sort());
        expect(all.filter((s) => s.startsWith(`t${shard}/`))).toEqual(names(`t${shard}`, 5));
        // Per-series order: the second item (t) only after the whole first one (s).
        expect(all.lastIndexOf(`s${shard}/0`)).toBeLessThan(all.indexOf(`t${shard}/0`));
      }
      expect(await rejected(h)).toBe(0);
    });
  }
});

describe('independent backends', () => {
  /** Two backends on one queue: `broken` (down or hanging) and `healthy` (a sink). */
  async function twoBackends(brokenUrl: string, brokenOverrides: Partial<BackendConfig> = {}) {
    const sink = await startSink(() => OK);
    const broken = backendConfig(brokenUrl, { name: 'broken', shards: 2, ...brokenOverrides });
    const healthy = backendConfig(sink.url, { name: 'healthy', shards: 2, max_samples_per_send: 1 });
    const h = harness([broken, healthy]);
    for (const f of h.forwarders) f.start();
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      await h.queue.append(['broken', 'healthy'].map((backend) => makeItem({ backend, shard: i % 2, batch: `b${i}` })));
    }
    await eventually(queueEmpty(h, 'healthy'), 'healthy backend drained', 2000);
    return { h, sink, elapsedMs: performance.now() - started };
  }

  it('one backend refusing connections does not delay the other', async () => {
    const port = await freePort();
    const { h, sink, elapsedMs } = await twoBackends(`http://127.0.0.1:${port}/api/v1/write`);
    expect(elapsedMs).toBeLessThan(1500);
    expect(stored(sink)).toHaveLength(20);
    expect(await sent(h, 'healthy')).toBe(20);
    expect(h.queue.stats('broken').items).toBe(20);
    expect(await counterValue(h.metrics.forwardRetries, { backend: 'broken', code: 'network' })).toBeGreaterThan(0);
  });

  it('one backend that never answers does not delay the other', async () => {
    const port = await freePort();
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)).listen(port, '127.0.0.1');
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const { h, sink, elapsedMs } = await twoBackends(`http://127.0.0.1:${port}/api/v1/write`, { remote_timeout: 60_000 });
    expect(elapsedMs).toBeLessThan(1500);
    expect(stored(sink)).toHaveLength(20);
    expect(sockets.length).toBeGreaterThan(0);
    expect(h.queue.stats('broken').items).toBe(20);
  });
});
