/**
 * The WriteQueue contract (src/queue/queue.ts), run against both implementations: the in-memory
 * queue and the durable SQLite queue. What only one of them does is tested in its own file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackpressureError } from '../../../src/errors.js';
import { MemoryQueue, QUEUE_FULL_RETRY_AFTER_SECONDS } from '../../../src/queue/memory-queue.js';
import type { QueueItemInput, WriteQueue } from '../../../src/queue/queue.js';
import { SqliteQueue } from '../../../src/queue/sqlite-queue.js';
import { closeDatabase, openDatabase } from '../../../src/state/db.js';

interface BackendSpec {
  readonly name: string;
  readonly shards: number;
  readonly maxQueueBytes: number;
}

type Factory = (backends: readonly BackendSpec[], now?: () => number) => WriteQueue;

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const memory: Factory = (backends, now) => new MemoryQueue({ backends, ...(now === undefined ? {} : { now }) });

const sqlite: Factory = (backends, now) => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-queue-contract-'));
  const db = openDatabase(dir);
  const q = new SqliteQueue({ db, backends, ...(now === undefined ? {} : { now }) });
  cleanups.push(async () => {
    await q.close();
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  return q;
};

function item(backend: string, shard: number, bytes: number, samples = 1, tenant = 't'): QueueItemInput {
  return { backend, shard, payload: Buffer.alloc(bytes, shard), samples, histograms: 0, exemplars: 0, metadata: 0, tenant };
}

describe.each([
  ['MemoryQueue', memory],
  ['SqliteQueue', sqlite],
] as const)('WriteQueue contract: %s', (_name, make) => {
  const queue = (now: () => number = () => 1000): WriteQueue =>
    make(
      [
        { name: 'a', shards: 2, maxQueueBytes: 100 },
        { name: 'b', shards: 1, maxQueueBytes: 50 },
      ],
      now,
    );

  it('keeps FIFO order per partition with increasing seq, partitions independent', async () => {
    const q = queue();
    await q.append([item('a', 0, 1, 1), item('a', 1, 1, 2), item('a', 0, 1, 3)]);
    await q.append([item('a', 0, 1, 4)]);
    const shard0 = q.peek('a', 0, 10, 100);
    expect(shard0.map((i) => i.samples)).toEqual([1, 3, 4]);
    const seqs = shard0.map((i) => i.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(3);
    expect(q.peek('a', 1, 10, 100).map((i) => i.samples)).toEqual([2]);
    expect(q.peek('b', 0, 10, 100)).toEqual([]);
  });

  it('returns every field as appended, payload bytes included (also an empty payload)', async () => {
    const q = queue(() => 4242);
    const payload = Buffer.from([0, 1, 2, 250, 255]);
    await q.append([
      { backend: 'a', shard: 1, payload, samples: 3, histograms: 4, exemplars: 5, metadata: 6, tenant: 'acme' },
      { backend: 'a', shard: 1, payload: Buffer.alloc(0), samples: 0, histograms: 0, exemplars: 0, metadata: 1, tenant: 'acme' },
    ]);
    const [first, second] = q.peek('a', 1, 10, 100);
    expect(first).toMatchObject({ backend: 'a', shard: 1, samples: 3, histograms: 4, exemplars: 5, metadata: 6, tenant: 'acme', enqueuedAtMs: 4242 });
    expect(Buffer.compare(first!.payload, payload)).toBe(0);
    expect(second!.payload.length).toBe(0);
    expect(second!.metadata).toBe(1);
  });

  it('keeps the call order of appends made in the same tick', async () => {
    const q = queue();
    await Promise.all([1, 2, 3, 4, 5].map((n) => q.append([item('a', 0, 1, n)])));
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps seq increasing after the partition was emptied', async () => {
    const q = queue();
    await q.append([item('a', 0, 1)]);
    const [first] = q.peek('a', 0, 1, 1);
    q.ack('a', 0, first!.seq);
    await q.append([item('a', 0, 1)]);
    expect(q.peek('a', 0, 1, 1)[0]!.seq).toBeGreaterThan(first!.seq);
  });

  it('refuses an append atomically when one touched backend is full, naming it', async () => {
    const q = queue();
    await q.append([item('b', 0, 40)]);
    const attempt = q.append([item('a', 0, 10), item('b', 0, 20)]);
    await expect(attempt).rejects.toBeInstanceOf(BackpressureError);
    const err = (await attempt.catch((e: unknown) => e)) as BackpressureError;
    expect(err.status).toBe(503);
    expect(err.reason).toBe('queue_full');
    expect(err.retryAfterSeconds).toBe(QUEUE_FULL_RETRY_AFTER_SECONDS);
    expect(err.message).toContain('"b"');
    expect(err.message).toContain('40 bytes queued');
    expect(err.message).toContain('max_queue_bytes is 50');
    expect(err.message).toContain('retries');
    // Nothing from the refused append is in either backend.
    expect(q.stats('a').items).toBe(0);
    expect(q.peek('a', 0, 10, 100)).toEqual([]);
    expect(q.stats('b')).toMatchObject({ items: 1, bytes: 40 });
  });

  it("counts a backend's share over all its shards against one cap", async () => {
    const q = queue();
    await expect(q.append([item('a', 0, 60), item('a', 1, 30)])).resolves.toBeUndefined();
    expect(q.hasRoom('a')).toBe(true);
    await expect(q.append([item('a', 1, 11)])).rejects.toMatchObject({ reason: 'queue_full' });
    await q.append([item('a', 1, 10)]);
    expect(q.hasRoom('a')).toBe(false);
    expect(q.hasRoom('b')).toBe(true);
  });

  it('counts appends of the same tick against the cap before they are committed', async () => {
    const q = queue();
    const first = q.append([item('b', 0, 30)]);
    const second = q.append([item('b', 0, 30)]).catch((err: unknown) => err);
    await expect(first).resolves.toBeUndefined();
    expect(await second).toMatchObject({ status: 503, reason: 'queue_full' });
    expect(q.stats('b')).toMatchObject({ items: 1, bytes: 30 });
  });

  it('takes one oversized batch into an empty backend queue (else it could never fit)', async () => {
    const q = queue();
    await q.append([item('b', 0, 80)]);
    expect(q.stats('b').bytes).toBe(80);
    await expect(q.append([item('b', 0, 1)])).rejects.toBeInstanceOf(BackpressureError);
  });

  it('frees bytes on ack and makes room again', async () => {
    const q = queue();
    await q.append([item('b', 0, 20), item('b', 0, 20), item('b', 0, 10)]);
    expect(q.hasRoom('b')).toBe(false);
    const items = q.peek('b', 0, 10, 100);
    q.ack('b', 0, items[1]!.seq);
    expect(q.stats('b')).toMatchObject({ items: 1, bytes: 10 });
    expect(q.hasRoom('b')).toBe(true);
    expect(q.peek('b', 0, 10, 100).map((i) => i.seq)).toEqual([items[2]!.seq]);
    // Acking an older seq again changes nothing.
    q.ack('b', 0, items[0]!.seq);
    expect(q.stats('b').items).toBe(1);
  });

  it('an ack past the newest item does not hide items appended later', async () => {
    const q = queue();
    await q.append([item('a', 0, 1, 1)]);
    q.ack('a', 0, Number.MAX_SAFE_INTEGER);
    expect(q.stats('a').items).toBe(0);
    await q.append([item('a', 0, 1, 2)]);
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([2]);
  });

  it('peek stops at maxItems and before the item that would pass maxSamples', async () => {
    const q = queue();
    await q.append([item('a', 0, 1, 3), item('a', 0, 1, 3), item('a', 0, 1, 3), item('a', 0, 1, 3)]);
    expect(q.peek('a', 0, 2, 100)).toHaveLength(2);
    expect(q.peek('a', 0, 10, 7)).toHaveLength(2);
    expect(q.peek('a', 0, 10, 9)).toHaveLength(3);
  });

  it('counts native histograms as samples when batching', async () => {
    const q = queue();
    await q.append([{ ...item('a', 0, 1, 1), histograms: 5 }, item('a', 0, 1, 1)]);
    expect(q.peek('a', 0, 10, 6)).toHaveLength(1);
    expect(q.peek('a', 0, 10, 7)).toHaveLength(2);
  });

  it('returns an item bigger than maxSamples alone rather than nothing', async () => {
    const q = queue();
    await q.append([item('a', 0, 1, 50), item('a', 0, 1, 1)]);
    const items = q.peek('a', 0, 10, 10);
    expect(items.map((i) => i.samples)).toEqual([50]);
  });

  it('waitForItems resolves at once when items exist, else on an append to that partition', async () => {
    const q = queue();
    const signal = new AbortController().signal;
    await q.append([item('a', 1, 1)]);
    await q.waitForItems('a', 1, signal);

    let woken = false;
    const waiting = q.waitForItems('a', 0, signal).then(() => {
      woken = true;
    });
    await q.append([item('a', 1, 1), item('b', 0, 1)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(false);
    await q.append([item('a', 0, 1)]);
    await waiting;
    expect(woken).toBe(true);
    // Woken only once the item can be read.
    expect(q.peek('a', 0, 10, 100)).toHaveLength(1);
  });

  it('waitForItems resolves (not rejects) on abort and leaves no listener behind', async () => {
    const q = queue();
    const controller = new AbortController();
    const waiting = q.waitForItems('a', 0, controller.signal);
    controller.abort();
    await expect(waiting).resolves.toBeUndefined();
    await expect(q.waitForItems('a', 0, controller.signal)).resolves.toBeUndefined();
  });

  it('removes its abort listener when woken by an append', async () => {
    const q = queue();
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
      added++;
      add(...args);
    }) as AbortSignal['addEventListener'];
    signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => {
      removed++;
      remove(...args);
    }) as AbortSignal['removeEventListener'];
    for (let i = 0; i < 5; i++) {
      const waiting = q.waitForItems('a', 0, signal);
      await q.append([item('a', 0, 1)]);
      await waiting;
      q.ack('a', 0, Number.MAX_SAFE_INTEGER);
    }
    expect(added).toBe(5);
    expect(removed).toBe(5);
  });

  it('close wakes waiters and refuses further appends', async () => {
    const q = queue();
    const waiting = q.waitForItems('a', 0, new AbortController().signal);
    await q.close();
    await expect(waiting).resolves.toBeUndefined();
    await expect(q.append([item('a', 0, 1)])).rejects.toMatchObject({ status: 503, reason: 'shutting_down' });
  });

  it('an append made before close is settled by close, and what is queued stays readable', async () => {
    const q = queue();
    const appended = q.append([item('a', 0, 1, 7)]);
    await q.close();
    await expect(appended).resolves.toBeUndefined();
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([7]);
  });

  it('reports items, bytes and the oldest enqueue time over all shards', async () => {
    let nowMs = 5000;
    const q = queue(() => nowMs);
    expect(q.stats('a')).toEqual({ items: 0, bytes: 0, oldestEnqueuedAtMs: undefined });
    await q.append([item('a', 1, 7)]);
    nowMs = 6000;
    await q.append([item('a', 0, 3), item('a', 0, 4)]);
    expect(q.stats('a')).toEqual({ items: 3, bytes: 14, oldestEnqueuedAtMs: 5000 });
    q.ack('a', 1, q.peek('a', 1, 1, 1)[0]!.seq);
    expect(q.stats('a')).toEqual({ items: 2, bytes: 7, oldestEnqueuedAtMs: 6000 });
  });

  it('stays correct over many append/ack rounds', async () => {
    const q = make([{ name: 'a', shards: 1, maxQueueBytes: 1 << 20 }]);
    let expected = 0;
    for (let round = 0; round < 2000; round++) {
      await q.append([item('a', 0, 1, round), item('a', 0, 1, round)]);
      const [head] = q.peek('a', 0, 1, 1_000_000);
      expect(head!.samples).toBe(expected);
      q.ack('a', 0, head!.seq);
      if (round % 2 === 1) expected++;
    }
    // Half of the appended items are still queued, in order.
    expect(q.stats('a')).toMatchObject({ items: 2000, bytes: 2000 });
    expect(q.peek('a', 0, 3, 1_000_000).map((i) => i.samples)).toEqual([1000, 1000, 1001]);
  });

  it('treats an unknown backend or shard as a bug', async () => {
    const q = queue();
    expect(() => q.peek('nope', 0, 1, 1)).toThrow(/BUG/);
    await expect(q.append([item('a', 2, 1)])).rejects.toThrow(/shard 2/);
    expect(q.stats('a').items).toBe(0);
  });
});
