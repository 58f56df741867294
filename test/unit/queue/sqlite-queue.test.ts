/**
 * What only the durable queue does: survive a reopen, commit concurrent appends together, fail a
 * commit cleanly, sweep max_queue_age, keep items of backends that went away. The WriteQueue
 * contract itself is in write-queue-contract.test.ts (run against both implementations).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import fc from 'fast-check';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackpressureError } from '../../../src/errors.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { MemoryQueue, QUEUE_FULL_RETRY_AFTER_SECONDS } from '../../../src/queue/memory-queue.js';
import type { QueueItem, QueueItemInput } from '../../../src/queue/queue.js';
import { readQueueStatus, SqliteQueue, type SqliteQueueBackend, type SqliteQueueOptions } from '../../../src/queue/sqlite-queue.js';
import { closeDatabase, type Database, DB_FILE_NAME, openDatabase } from '../../../src/state/db.js';
import { latestVersion, MIGRATIONS, migrate } from '../../../src/state/migrations.js';

let dir: string;
const open: Array<{ q: SqliteQueue; db: Database }> = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-sqlite-queue-'));
});

afterEach(async () => {
  for (const { q, db } of open.splice(0)) {
    await q.close();
    closeDatabase(db);
  }
  rmSync(dir, { recursive: true, force: true });
});

const BACKENDS: SqliteQueueBackend[] = [
  { name: 'a', shards: 2, maxQueueBytes: 1000 },
  { name: 'b', shards: 1, maxQueueBytes: 1000 },
];

function start(options: Partial<Omit<SqliteQueueOptions, 'db'>> = {}): { q: SqliteQueue; db: Database } {
  const db = openDatabase(dir);
  const q = new SqliteQueue({ db, backends: BACKENDS, ...options });
  const handle = { q, db };
  open.push(handle);
  return handle;
}

/** Close the queue and the database cleanly, as a graceful shutdown does. */
async function stop(handle: { q: SqliteQueue; db: Database }): Promise<void> {
  open.splice(open.indexOf(handle), 1);
  await handle.q.close();
  closeDatabase(handle.db);
}

function item(backend: string, shard: number, bytes: number, samples = 1, tenant = 't'): QueueItemInput {
  return { backend, shard, payload: Buffer.alloc(bytes, samples & 0xff), samples, histograms: 0, exemplars: 0, metadata: 0, tenant };
}

function rowCount(db: Database): number {
  return db.prepare<[], { n: number }>('SELECT count(*) AS n FROM queue').get()!.n;
}

interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

/** Enough of a pino Logger for the queue: records what it is told. */
function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, fields, msg });
    };
  const logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: () => {} } as unknown as Logger;
  return { logger, lines };
}

describe('SqliteQueue: durability across reopen', () => {
  it('replays what was queued, in order per partition, with its accounting', async () => {
    let nowMs = 1000;
    const first = start({ now: () => nowMs });
    await first.q.append([item('a', 0, 10, 1), item('a', 1, 20, 2), item('b', 0, 30, 3)]);
    nowMs = 2000;
    await first.q.append([item('a', 0, 40, 4)]);
    const seqsBefore = first.q.peek('a', 0, 10, 100).map((i) => i.seq);
    await stop(first);

    const second = start({ now: () => 5000 });
    expect(second.q.stats('a')).toEqual({ items: 3, bytes: 70, oldestEnqueuedAtMs: 1000 });
    expect(second.q.stats('b')).toEqual({ items: 1, bytes: 30, oldestEnqueuedAtMs: 1000 });
    const replayed = second.q.peek('a', 0, 10, 100);
    expect(replayed.map((i) => i.samples)).toEqual([1, 4]);
    expect(replayed.map((i) => i.seq)).toEqual(seqsBefore);
    expect(replayed.map((i) => i.enqueuedAtMs)).toEqual([1000, 2000]);
    expect(second.q.peek('a', 1, 10, 100).map((i) => i.samples)).toEqual([2]);

    // New items go after the replayed ones, and waitForItems sees the backlog at once.
    await second.q.append([item('a', 0, 5, 5)]);
    expect(second.q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([1, 4, 5]);
    await second.q.waitForItems('b', 0, new AbortController().signal);
  });

  it('keeps seq increasing across a reopen even after everything was acknowledged', async () => {
    const first = start();
    await first.q.append([item('a', 0, 1), item('a', 0, 1)]);
    const last = first.q.peek('a', 0, 10, 100).at(-1)!.seq;
    first.q.ack('a', 0, last);
    await stop(first);
    const check = openDatabase(dir);
    expect(rowCount(check)).toBe(0);
    closeDatabase(check);

    const second = start();
    await second.q.append([item('a', 0, 1)]);
    expect(second.q.peek('a', 0, 1, 100)[0]!.seq).toBeGreaterThan(last);
  });

  it('restores the byte accounting (and so the cap) at open', async () => {
    const first = start();
    await first.q.append([item('b', 0, 600), item('b', 0, 300)]);
    first.q.ack('b', 0, first.q.peek('b', 0, 1, 100)[0]!.seq);
    await stop(first);

    const second = start();
    expect(second.q.stats('b')).toMatchObject({ items: 1, bytes: 300 });
    expect(second.q.hasRoom('b')).toBe(true);
    await second.q.append([item('b', 0, 700)]);
    expect(second.q.hasRoom('b')).toBe(false);
    await expect(second.q.append([item('b', 0, 1)])).rejects.toMatchObject({ status: 503, reason: 'queue_full' });
  });

  it('deletes acknowledged rows with the next flush; an ack not yet flushed only means a resend', async () => {
    const { q, db } = start();
    await q.append([item('a', 0, 1, 1), item('a', 0, 1, 2)]);
    const [head] = q.peek('a', 0, 1, 100);
    q.ack('a', 0, head!.seq);
    // Acknowledged at once for readers of this queue…
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([2]);
    // …and gone from the table after the flush.
    await new Promise((resolve) => setImmediate(resolve));
    expect(rowCount(db)).toBe(1);
  });

  it('leaves items of a backend no longer configured in place, with a warning', async () => {
    const first = start();
    await first.q.append([item('a', 0, 10), item('b', 0, 20), item('b', 0, 30)]);
    await stop(first);

    const { logger, lines } = recordingLogger();
    const db = openDatabase(dir);
    const q = new SqliteQueue({ db, backends: [{ name: 'a', shards: 2, maxQueueBytes: 1000 }], logger });
    open.push({ q, db });
    expect(q.backends()).toEqual(['a']);
    expect(q.stats('a').items).toBe(1);
    const warning = lines.find((l) => l.level === 'warn' && l.fields.backend === 'b');
    expect(warning?.fields).toMatchObject({ items: 2, bytes: 50 });
    expect(warning?.msg).toContain('no longer configured');
    expect(rowCount(db)).toBe(3);
    expect(readQueueStatus(db).map((r) => [r.backend, r.items])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('moves items of shards that no longer exist to an existing one, before anything new', async () => {
    const db1 = openDatabase(dir);
    const wide = new SqliteQueue({ db: db1, backends: [{ name: 'a', shards: 4, maxQueueBytes: 1000 }] });
    await wide.append([item('a', 3, 1, 30), item('a', 1, 1, 10), item('a', 2, 1, 20)]);
    await wide.close();
    closeDatabase(db1);

    const { logger, lines } = recordingLogger();
    const db = openDatabase(dir);
    const q = new SqliteQueue({ db, backends: [{ name: 'a', shards: 2, maxQueueBytes: 1000 }], logger });
    open.push({ q, db });
    await q.append([item('a', 1, 1, 11)]);
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([20]);
    // Shard 3 became shard 1 and kept its seq: it still goes before what shard 1 had after it.
    expect(q.peek('a', 1, 10, 100).map((i) => i.samples)).toEqual([30, 10, 11]);
    expect(q.stats('a').items).toBe(4);
    expect(lines.filter((l) => l.level === 'warn' && /fewer shards/.test(l.msg))).toHaveLength(2);
  });
});

describe('SqliteQueue: group commit and atomicity', () => {
  it('commits appends made in the same tick in one transaction, and settles them together', async () => {
    const { q } = start();
    const before = q.commits;
    const settledAt: number[] = [];
    let turn = 0;
    const ticker = setInterval(() => turn++, 0);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => q.append([item('a', i % 2, 10, i), item('b', 0, 1, i)]).then(() => settledAt.push(turn))),
    );
    clearInterval(ticker);
    expect(q.commits - before).toBe(1);
    expect(new Set(settledAt).size).toBe(1);
    expect(q.stats('a').items).toBe(8);
    expect(q.stats('b').items).toBe(8);
    // The next tick's appends are the next transaction.
    await q.append([item('a', 0, 1)]);
    expect(q.commits - before).toBe(2);
  });

  it('is visible to another connection only once append resolved (nothing is acknowledged before its COMMIT)', async () => {
    const { q } = start();
    const reader = openDatabase(dir);
    try {
      const appended = q.append([item('a', 0, 10)]);
      expect(rowCount(reader)).toBe(0);
      await appended;
      expect(rowCount(reader)).toBe(1);
    } finally {
      closeDatabase(reader);
    }
  });

  it('rejects every append of a failed commit with 503, stores none of them, and recovers', async () => {
    const { q, db } = start();
    await q.append([item('a', 0, 10, 1)]);
    // Make the next transaction fail halfway through: an insert for tenant "boom" aborts it.
    db.exec("CREATE TEMP TRIGGER fail_boom BEFORE INSERT ON queue WHEN NEW.tenant = 'boom' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    const good = q.append([item('a', 0, 10, 2), item('b', 0, 10, 3)]).catch((err: unknown) => err);
    const bad = q.append([item('a', 1, 10, 4), item('a', 1, 10, 5, 'boom')]).catch((err: unknown) => err);
    for (const err of [await good, await bad]) {
      expect(err).toBeInstanceOf(BackpressureError);
      expect(err).toMatchObject({ status: 503, retryAfterSeconds: QUEUE_FULL_RETRY_AFTER_SECONDS });
      expect((err as Error).message).toMatch(/^the write could not be made durable \(disk on fire\)/);
    }
    expect(rowCount(db)).toBe(1);
    expect(q.stats('a')).toMatchObject({ items: 1, bytes: 10 });
    expect(q.stats('b')).toMatchObject({ items: 0, bytes: 0 });
    expect(q.peek('a', 1, 10, 100)).toEqual([]);

    db.exec('DROP TRIGGER fail_boom');
    await q.append([item('a', 1, 10, 6)]);
    expect(q.peek('a', 1, 10, 100).map((i) => i.samples)).toEqual([6]);
    expect(q.stats('a')).toMatchObject({ items: 2, bytes: 20 });
  });

  it('close commits the appends still waiting for their flush', async () => {
    const handle = start();
    const appended = handle.q.append([item('a', 0, 10, 1), item('a', 1, 10, 2)]);
    await stop(handle);
    await expect(appended).resolves.toBeUndefined();
    const db = openDatabase(dir);
    try {
      expect(rowCount(db)).toBe(2);
    } finally {
      closeDatabase(db);
    }
  });

  it('close commits pending deletes too, and an ack after close deletes at once', async () => {
    const handle = start();
    await handle.q.append([item('a', 0, 10, 1), item('a', 0, 10, 2)]);
    const [first, second] = handle.q.peek('a', 0, 10, 100);
    handle.q.ack('a', 0, first!.seq);
    await handle.q.close();
    expect(rowCount(handle.db)).toBe(1);
    handle.q.ack('a', 0, second!.seq);
    expect(rowCount(handle.db)).toBe(0);
  });
});

describe('SqliteQueue: max_queue_age', () => {
  function withAge(maxQueueAgeMs: number, nowRef: { ms: number }, extra: Partial<Omit<SqliteQueueOptions, 'db' | 'backends'>> = {}) {
    const metrics = new Metrics(new Registry());
    const { logger, lines } = recordingLogger();
    const db = openDatabase(dir);
    const q = new SqliteQueue({
      db,
      backends: [
        { name: 'a', shards: 2, maxQueueBytes: 1 << 20, maxQueueAgeMs },
        { name: 'b', shards: 1, maxQueueBytes: 1 << 20 },
      ],
      metrics,
      logger,
      now: () => nowRef.ms,
      ...extra,
    });
    open.push({ q, db });
    const dropped = async () => (await metrics.queueDroppedSamples.get()).values.find((v) => v.labels.backend === 'a' && v.labels.reason === 'queue_max_age')?.value ?? 0;
    return { q, db, lines, dropped };
  }

  it('drops items older than the limit before a peek, counting samples and histograms, and logs it', async () => {
    const now = { ms: 10_000 };
    const { q, db, lines, dropped } = withAge(5000, now);
    await q.append([{ ...item('a', 0, 10, 3), histograms: 2 }, item('a', 1, 10, 1)]);
    now.ms = 12_000;
    await q.append([item('a', 0, 10, 7)]);
    now.ms = 15_000; // the first items are exactly 5 s old: kept
    expect(q.peek('a', 0, 10, 100)).toHaveLength(2);
    now.ms = 15_001;
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([7]);
    expect(await dropped()).toBe(5);
    expect(q.stats('a')).toMatchObject({ items: 2, bytes: 20 });
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning?.fields).toMatchObject({ backend: 'a', shard: 0, items: 1, samples: 5 });
    expect(warning?.msg).toContain('max_queue_age');
    await new Promise((resolve) => setImmediate(resolve));
    expect(rowCount(db)).toBe(2);
  });

  it('sweeps on a timer without anyone peeking; a backend without the limit keeps everything', async () => {
    const now = { ms: 1000 };
    const { q, dropped } = withAge(100, now, { sweepIntervalMs: 10 });
    await q.append([item('a', 0, 10, 2), item('a', 1, 10, 3), item('b', 0, 10, 4)]);
    now.ms = 5000;
    const deadline = Date.now() + 2000;
    while (q.stats('a').items > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(q.stats('a')).toEqual({ items: 0, bytes: 0, oldestEnqueuedAtMs: undefined });
    expect(await dropped()).toBe(5);
    expect(q.stats('b').items).toBe(1);
    expect(q.hasRoom('a')).toBe(true);
  });

  it('an ack of items the sweep already dropped changes nothing', async () => {
    const now = { ms: 0 };
    const { q } = withAge(10, now);
    await q.append([item('a', 0, 10, 1)]);
    const [head] = q.peek('a', 0, 10, 100);
    now.ms = 100;
    await q.append([item('a', 0, 10, 2)]);
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([2]);
    q.ack('a', 0, head!.seq);
    expect(q.stats('a')).toMatchObject({ items: 1, bytes: 10 });
  });
});

describe('readQueueStatus', () => {
  it('sums every stored partition from the index', async () => {
    let nowMs = 100;
    const { q, db } = start({ now: () => nowMs });
    expect(readQueueStatus(db)).toEqual([]);
    await q.append([{ ...item('a', 1, 10, 3), histograms: 1 }, item('b', 0, 5, 2)]);
    nowMs = 200;
    await q.append([item('a', 1, 7, 4)]);
    expect(readQueueStatus(db)).toEqual([
      { backend: 'a', shard: 1, items: 2, bytes: 17, samples: 7, histograms: 1, oldestEnqueuedAtMs: 100 },
      { backend: 'b', shard: 0, items: 1, bytes: 5, samples: 2, histograms: 0, oldestEnqueuedAtMs: 100 },
    ]);
  });
});

describe('the state database as the queue opens it', () => {
  it('sets synchronous NORMAL by default and FULL on request, 16 KiB pages for a new file', () => {
    const normal = openDatabase(dir);
    try {
      expect(normal.pragma('synchronous', { simple: true })).toBe(1);
      expect(normal.pragma('page_size', { simple: true })).toBe(16384);
      expect(normal.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      closeDatabase(normal);
    }
    const full = openDatabase(dir, { synchronous: 'full' });
    try {
      expect(full.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      closeDatabase(full);
    }
  });

  it('adds the queue table to a version 1 database and keeps its tokens', () => {
    const raw = new SqliteDatabase(join(dir, DB_FILE_NAME));
    raw.pragma('journal_mode = WAL');
    migrate(raw, 'test', MIGRATIONS.slice(0, 1));
    raw.prepare("INSERT INTO tokens (id, hash, tenant, clusters, created_at) VALUES ('tok_1', 'h', 't', '[\"c\"]', 1)").run();
    raw.close();

    const db = openDatabase(dir);
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(latestVersion());
      expect(db.prepare('SELECT count(*) AS n FROM tokens').get()).toEqual({ n: 1 });
      const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('queue')").all().map((c) => c.name);
      expect(columns).toEqual(['seq', 'backend', 'shard', 'enqueued_at', 'bytes', 'samples', 'histograms', 'exemplars', 'metadata', 'tenant', 'payload']);
    } finally {
      closeDatabase(db);
    }
  });

  it('answers the hot queries from the partition index', () => {
    const db = openDatabase(dir);
    try {
      const plan = (sql: string) =>
        db
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...['a', 0, 0, 10].slice(0, sql.split('?').length - 1))
          .map((r) => r.detail)
          .join('; ');
      expect(plan('SELECT payload FROM queue WHERE backend = ? AND shard = ? AND seq > ? ORDER BY seq LIMIT ?')).toMatch(/USING INDEX queue_partition/);
      expect(plan('SELECT count(*), sum(bytes), sum(samples + histograms) FROM queue WHERE backend = ? AND shard = ? AND seq > ? AND seq <= ?')).toMatch(
        /USING COVERING INDEX queue_partition/,
      );
      expect(plan('SELECT seq FROM queue WHERE backend = ? AND shard = ? AND seq > ? AND enqueued_at >= ? ORDER BY seq LIMIT 1')).toMatch(
        /USING COVERING INDEX queue_partition/,
      );
      expect(plan('DELETE FROM queue WHERE backend = ? AND shard = ? AND seq <= ?')).toMatch(/USING (COVERING )?INDEX queue_partition/);
    } finally {
      closeDatabase(db);
    }
  });
});

describe('SqliteQueue: peek cache', () => {
  it('returns the same items again without re-reading, and sees what was appended after', async () => {
    const { q } = start();
    await q.append([item('a', 0, 10, 1), item('a', 0, 10, 2), item('a', 0, 10, 3)]);
    const first = q.peek('a', 0, 2, 100);
    const again = q.peek('a', 0, 2, 100);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    await q.append([item('a', 0, 10, 4)]);
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([1, 2, 3, 4]);
    q.ack('a', 0, first[1]!.seq);
    expect(q.peek('a', 0, 10, 100).map((i) => i.samples)).toEqual([3, 4]);
  });

  it('behaves exactly like the in-memory queue under random appends, peeks and acks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('append' as const), shards: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 4 }), samples: fc.integer({ min: 0, max: 5 }) }),
            fc.record({ op: fc.constant('peek' as const), shard: fc.integer({ min: 0, max: 1 }), maxItems: fc.integer({ min: 1, max: 6 }), maxSamples: fc.integer({ min: 0, max: 12 }) }),
            fc.record({ op: fc.constant('ack' as const), shard: fc.integer({ min: 0, max: 1 }), index: fc.integer({ min: 0, max: 6 }) }),
          ),
          { maxLength: 40 },
        ),
        async (ops) => {
          const backends = [{ name: 'a', shards: 2, maxQueueBytes: 1 << 20 }];
          const model = new MemoryQueue({ backends });
          const db = openDatabase(dir);
          const real = new SqliteQueue({ db, backends });
          let id = 0;
          const ids = (items: readonly QueueItemInput[]) => items.map((i) => i.tenant);
          const lastPeek: Array<{ model: QueueItem[]; real: QueueItem[] }> = [
            { model: [], real: [] },
            { model: [], real: [] },
          ];
          try {
            for (const op of ops) {
              if (op.op === 'append') {
                const items = op.shards.map((shard) => item('a', shard, 3, op.samples, `id${id++}`));
                await Promise.all([model.append(items), real.append(items)]);
              } else if (op.op === 'peek') {
                const m = model.peek('a', op.shard, op.maxItems, op.maxSamples);
                const r = real.peek('a', op.shard, op.maxItems, op.maxSamples);
                expect(ids(r)).toEqual(ids(m));
                lastPeek[op.shard] = { model: m, real: r };
              } else {
                const peeked = lastPeek[op.shard]!;
                const m = peeked.model[op.index];
                const r = peeked.real[op.index];
                if (m !== undefined && r !== undefined) {
                  model.ack('a', op.shard, m.seq);
                  real.ack('a', op.shard, r.seq);
                }
              }
              expect(real.stats('a')).toMatchObject({ items: model.stats('a').items, bytes: model.stats('a').bytes });
            }
            for (const shard of [0, 1]) expect(ids(real.peek('a', shard, 1000, 1e9))).toEqual(ids(model.peek('a', shard, 1000, 1e9)));
          } finally {
            await real.close();
            closeDatabase(db);
            rmSync(join(dir, DB_FILE_NAME), { force: true });
            rmSync(join(dir, `${DB_FILE_NAME}-wal`), { force: true });
            rmSync(join(dir, `${DB_FILE_NAME}-shm`), { force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
