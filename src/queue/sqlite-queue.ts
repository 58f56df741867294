/**
 * The durable WriteQueue: every queued batch is a row of the `queue` table in tributary's SQLite
 * database (`<data_dir>/tributary.db`, WAL mode; schema in src/state/migrations.ts, version 2).
 *
 * - **Ack after durable, group commit.** `append` resolves only after the COMMIT that holds its
 *   items. Appends made during one event-loop turn (several HTTP requests whose bodies arrived
 *   together) wait for a flush scheduled with `setImmediate` and go into ONE transaction, so the
 *   commit (and with `synchronous = FULL` its fsync) is shared. Each call is atomic: all its items
 *   are in that transaction or, when it fails, none; every caller of a failed flush gets a 503.
 * - **Bounded memory.** The counters (items, bytes, acknowledged seq) are per partition and per
 *   backend, never per item. Payloads in memory: appends waiting for the next flush (one event-loop
 *   turn's worth) and a head cache of at most HEAD_CACHE_MAX_BYTES for the whole queue: committed
 *   items are kept there while their partition is entirely cached (the forwarder keeps up), so the
 *   common forward path never reads SQLite (measured: peek+ack 9 µs instead of 64 µs per 90 KB
 *   item). Behind a backlog, peeks read SQLite, whatever its size.
 * - **Acknowledge is cheap.** `ack` moves the partition's acknowledged seq at once (peek never
 *   returns those items again) and updates the byte accounting from the covering index; the
 *   DELETE itself rides along with the next flush. A crash before that flush resends those items
 *   after the restart (duplicates the backend accepts), never loses any.
 * - **Caps, never drops to make room.** Per-backend bytes (committed + waiting for the flush)
 *   against `max_queue_bytes`, with the same rule as MemoryQueue: at the cap `append` is refused
 *   with 503 + Retry-After; an empty queue still takes one oversized batch.
 * - **max_queue_age.** Items older than their backend's limit are deleted by a sweep (every second,
 *   and before each peek), counted in `tributary_queue_dropped_samples_total{reason="queue_max_age"}`
 *   and logged at warn.
 * - **Replay.** What a previous process left in the table is counted at open and read first (seq
 *   is AUTOINCREMENT, so new items always sort after it). Items of a backend no longer configured
 *   stay in the table, with a warning; items of a shard beyond the configured count move to shard
 *   `shard % shards`, keeping their seq (so they still go first).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { BackpressureError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Database } from '../state/db.js';
import { QUEUE_FULL_RETRY_AFTER_SECONDS } from './memory-queue.js';
import type { PartitionStats, QueueItem, QueueItemInput, WriteQueue } from './queue.js';
import { waitForWake } from './waiters.js';

/** How often items older than max_queue_age are swept (and a failed delete retried). */
const DEFAULT_SWEEP_INTERVAL_MS = 1000;

/**
 * Payload bytes the whole queue keeps in memory as the heads of its partitions (see
 * `Partition.cached`). Bounded whatever the backlog: beyond it, items are read from SQLite.
 */
const HEAD_CACHE_MAX_BYTES = 64 * 1024 * 1024;

/** What the queue needs to know about one backend. */
export interface SqliteQueueBackend {
  readonly name: string;
  readonly shards: number;
  readonly maxQueueBytes: number;
  /** Items older than this (ms) are dropped, counted and logged; 0 or absent: kept until delivered. */
  readonly maxQueueAgeMs?: number;
}

export interface SqliteQueueOptions {
  /** An open connection from `openDatabase` (schema version 2 or later). The queue never closes it. */
  readonly db: Database;
  readonly backends: ReadonlyArray<SqliteQueueBackend>;
  /** Where max_queue_age drops are counted. */
  readonly metrics?: Pick<Metrics, 'queueDroppedSamples'>;
  readonly logger?: Logger;
  /** Clock for `enqueuedAtMs` and max_queue_age (ms since epoch); injectable for tests. */
  readonly now?: () => number;
  /** Period of the max_queue_age sweep; default 1 s. */
  readonly sweepIntervalMs?: number;
}

/** One (backend, shard) partition: counters and the acknowledged position, never items. */
class Partition {
  /** Committed items not acknowledged yet (what peek can return). */
  items = 0;
  /** Every item with seq <= this is acknowledged (its DELETE may still wait for the next flush). */
  ackedSeq = 0;
  /** DELETEs committed up to this seq. */
  deletedSeq = 0;
  /** Resolvers of `waitForItems` calls parked on this partition. */
  readonly waiters = new Set<() => void>();
  /**
   * The partition's first unacknowledged items, kept in memory: always the head of the partition
   * and without gaps (acknowledgements trim it from the front; new items are added at its end only
   * while it holds the whole partition, and peeks extend it with what they read). When the
   * forwarder keeps up, every item is committed, cached and then peeked from here, so the forward
   * path never reads SQLite; behind a backlog, peeks read SQLite. All partitions together hold at
   * most HEAD_CACHE_MAX_BYTES.
   */
  cached: QueueItem[] = [];

  constructor(readonly shard: number) {}

  /** Forget cached items with seq <= `seq`; returns the payload bytes released. */
  trimCached(seq: number): number {
    let n = 0;
    let bytes = 0;
    while (n < this.cached.length && (this.cached[n] as QueueItem).seq <= seq) {
      bytes += (this.cached[n] as QueueItem).payload.length;
      n++;
    }
    if (n > 0) this.cached = n === this.cached.length ? [] : this.cached.slice(n);
    return bytes;
  }

  wakeAll(): void {
    if (this.waiters.size === 0) return;
    const wakers = [...this.waiters];
    this.waiters.clear();
    for (const wake of wakers) wake();
  }
}

class BackendState {
  /** Committed, not acknowledged. */
  items = 0;
  bytes = 0;
  /** Bytes of appends waiting for the next flush: counted against the cap already. */
  pendingBytes = 0;
  readonly partitions: Partition[];
  droppedByAge: Counter.Internal | undefined;

  constructor(
    readonly name: string,
    readonly maxQueueBytes: number,
    readonly maxQueueAgeMs: number,
    shards: number,
  ) {
    this.partitions = Array.from({ length: shards }, (_, shard) => new Partition(shard));
  }
}

interface PendingAppend {
  readonly items: readonly QueueItemInput[];
  readonly shares: ReadonlyMap<BackendState, number>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface PeekRow {
  seq: number;
  enqueued_at: number;
  samples: number;
  histograms: number;
  exemplars: number;
  metadata: number;
  tenant: string;
  payload: Buffer;
}

interface RangeSums {
  items: number;
  bytes: number;
  samples: number;
}

/** Depth of one (backend, shard) partition as stored, for `tributary queue status`. */
export interface StoredPartitionStatus {
  readonly backend: string;
  readonly shard: number;
  readonly items: number;
  readonly bytes: number;
  readonly samples: number;
  readonly histograms: number;
  /** undefined when the partition is empty (never, in rows from {@link readQueueStatus}). */
  readonly oldestEnqueuedAtMs: number | undefined;
}

/**
 * Every non-empty partition stored in `db`, ordered by backend and shard: what `tributary queue
 * status` prints. Reads the covering index only, so it is cheap and safe while a server runs.
 */
export function readQueueStatus(db: Database): StoredPartitionStatus[] {
  return db
    .prepare<[], { backend: string; shard: number; items: number; bytes: number; samples: number; histograms: number; oldest: number }>(
      `SELECT backend, shard, count(*) AS items, sum(bytes) AS bytes, sum(samples) AS samples,
              sum(histograms) AS histograms, min(enqueued_at) AS oldest
         FROM queue GROUP BY backend, shard ORDER BY backend, shard`,
    )
    .all()
    .map((r) => ({
      backend: r.backend,
      shard: r.shard,
      items: r.items,
      bytes: r.bytes,
      samples: r.samples,
      histograms: r.histograms,
      oldestEnqueuedAtMs: r.oldest,
    }));
}

type Stmt<P extends unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;

/** `db.prepare` with the parameter and row types taken from the field it is assigned to. */
function prepare<P extends unknown[], R = unknown>(db: Database, sql: string): Stmt<P, R> {
  return db.prepare<P, R>(sql);
}

/** The SQLite-backed, durable implementation of {@link WriteQueue}. */
export class SqliteQueue implements WriteQueue {
  private readonly db: Database;
  private readonly byName = new Map<string, BackendState>();
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private readonly sweepTimer: NodeJS.Timeout | undefined;

  private readonly insertStmt: Stmt<[string, number, number, number, number, number, number, number, string, Buffer]>;
  private readonly deleteStmt: Stmt<[string, number, number]>;
  private readonly peekStmt: Stmt<[string, number, number, number], PeekRow>;
  private readonly sumStmt: Stmt<[string, number, number, number], RangeSums>;
  private readonly headStmt: Stmt<[string, number, number], { enqueued_at: number }>;
  private readonly firstYoungStmt: Stmt<[string, number, number, number], { seq: number }>;
  /** Runs the deletes and inserts of one flush in one IMMEDIATE transaction; returns the seq of each item inserted, in order. */
  private readonly writeTransaction: (appends: readonly PendingAppend[], deletes: readonly DeleteTask[], enqueuedAtMs: number) => number[];

  /** The highest seq ever assigned (sqlite_sequence): every future item gets a larger one. */
  private lastSeq: number;
  /** Payload bytes held by all partitions' head caches. */
  private cachedBytes = 0;
  private pending: PendingAppend[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private closed = false;
  /** Commits done by flushes (for tests and the benchmark: group commit means few of them). */
  private flushCommits = 0;

  constructor(options: SqliteQueueOptions) {
    this.db = options.db;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    for (const b of options.backends) {
      if (this.byName.has(b.name)) throw new Error(`SqliteQueue: duplicate backend "${b.name}"`);
      if (!Number.isInteger(b.shards) || b.shards < 1) throw new Error(`SqliteQueue: backend "${b.name}" needs at least one shard`);
      const state = new BackendState(b.name, b.maxQueueBytes, Math.max(0, b.maxQueueAgeMs ?? 0), b.shards);
      state.droppedByAge = options.metrics?.queueDroppedSamples.labels(b.name, 'queue_max_age');
      this.byName.set(b.name, state);
    }

    const db = this.db;
    this.insertStmt = prepare(
      db,
      `INSERT INTO queue (backend, shard, enqueued_at, bytes, samples, histograms, exemplars, metadata, tenant, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.deleteStmt = prepare(db, 'DELETE FROM queue WHERE backend = ? AND shard = ? AND seq <= ?');
    this.peekStmt = prepare(
      db,
      `SELECT seq, enqueued_at, samples, histograms, exemplars, metadata, tenant, payload
         FROM queue WHERE backend = ? AND shard = ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
    this.sumStmt = prepare(
      db,
      `SELECT count(*) AS items, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(samples + histograms), 0) AS samples
         FROM queue WHERE backend = ? AND shard = ? AND seq > ? AND seq <= ?`,
    );
    this.headStmt = prepare(db, 'SELECT enqueued_at FROM queue WHERE backend = ? AND shard = ? AND seq > ? ORDER BY seq LIMIT 1');
    this.firstYoungStmt = prepare(
      db,
      'SELECT seq FROM queue WHERE backend = ? AND shard = ? AND seq > ? AND enqueued_at >= ? ORDER BY seq LIMIT 1',
    );
    this.writeTransaction = db.transaction((appends: readonly PendingAppend[], deletes: readonly DeleteTask[], enqueuedAtMs: number) => {
      for (const d of deletes) this.deleteStmt.run(d.state.name, d.partition.shard, d.upTo);
      const seqs: number[] = [];
      for (const append of appends) {
        for (const item of append.items) {
          const info = this.insertStmt.run(
            item.backend,
            item.shard,
            enqueuedAtMs,
            item.payload.length,
            item.samples,
            item.histograms,
            item.exemplars,
            item.metadata,
            item.tenant,
            item.payload,
          );
          seqs.push(Number(info.lastInsertRowid));
        }
      }
      // Only returned: this.lastSeq moves after the COMMIT, since a rolled-back seq is handed out again.
      return seqs;
    }).immediate;

    this.lastSeq = this.readLastSeq();
    this.loadBacklog(options.backends);

    if (options.backends.some((b) => (b.maxQueueAgeMs ?? 0) > 0)) {
      this.sweepTimer = setInterval(() => this.maintain(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
      this.sweepTimer.unref();
    }
  }

  /** Names of the configured backends, in configuration order (for the queue depth gauges). */
  backends(): string[] {
    return [...this.byName.keys()];
  }

  /** How many transactions flushes have committed so far (group commit: one per event-loop turn with writes). */
  get commits(): number {
    return this.flushCommits;
  }

  append(items: readonly QueueItemInput[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new BackpressureError('shutting_down', 'tributary is shutting down; the sender keeps the data and retries', QUEUE_FULL_RETRY_AFTER_SECONDS),
      );
    }
    // Check and reserve synchronously (no await in between): concurrent appends cannot both pass the
    // check and overshoot the cap.
    let shares: Map<BackendState, number>;
    try {
      shares = this.reserve(items);
    } catch (err) {
      return Promise.reject(err);
    }
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ items, shares, resolve, reject });
      this.scheduleFlush();
    });
  }

  hasRoom(backend: string): boolean {
    const state = this.backend(backend);
    return state.bytes + state.pendingBytes < state.maxQueueBytes;
  }

  peek(backend: string, shard: number, maxItems: number, maxSamples: number): QueueItem[] {
    const state = this.backend(backend);
    const p = this.partitionOf(state, shard);
    this.sweepPartition(state, p);
    if (p.items === 0 || maxItems <= 0) return [];
    const out: QueueItem[] = [];
    let samples = 0;
    // The first item always goes, even when it alone is over maxSamples: otherwise it would block
    // its partition forever.
    const fits = (item: QueueItem): boolean => out.length === 0 || samples + item.samples + item.histograms <= maxSamples;
    for (const item of p.cached) {
      if (out.length >= maxItems || !fits(item)) return out;
      samples += item.samples + item.histograms;
      out.push(item);
    }
    if (out.length >= maxItems || out.length >= p.items) return out;
    // Everything cached went out: read on from SQLite, right after the last cached item.
    const after = out.length > 0 ? (out[out.length - 1] as QueueItem).seq : p.ackedSeq;
    for (const row of this.peekStmt.iterate(backend, shard, after, maxItems - out.length)) {
      const item: QueueItem = {
        backend,
        shard,
        payload: row.payload,
        samples: row.samples,
        histograms: row.histograms,
        exemplars: row.exemplars,
        metadata: row.metadata,
        tenant: row.tenant,
        seq: row.seq,
        enqueuedAtMs: row.enqueued_at,
      };
      // Cached even when it does not fit this peek: it is the next one, so the cache stays gapless.
      if (p.cached.length === out.length) this.cacheAtEnd(p, item);
      if (!fits(item)) break;
      samples += item.samples + item.histograms;
      out.push(item);
    }
    return out;
  }

  ack(backend: string, shard: number, seq: number): void {
    const state = this.backend(backend);
    const p = this.partitionOf(state, shard);
    this.acknowledge(state, p, seq);
  }

  waitForItems(backend: string, shard: number, signal: AbortSignal): Promise<void> {
    const p = this.partition(backend, shard);
    if (p.items > 0 || this.closed || signal.aborted) return Promise.resolve();
    return waitForWake(p.waiters, signal);
  }

  stats(backend: string): PartitionStats {
    const state = this.backend(backend);
    let oldest: number | undefined;
    for (const p of state.partitions) {
      if (p.items === 0) continue;
      const head = p.cached[0]?.enqueuedAtMs ?? this.headStmt.get(backend, p.shard, p.ackedSeq)?.enqueued_at;
      if (head !== undefined && (oldest === undefined || head < oldest)) oldest = head;
    }
    return { items: state.items, bytes: state.bytes, oldestEnqueuedAtMs: oldest };
  }

  /**
   * Refuse further appends, commit the appends still waiting (their callers resolve or reject as
   * usual) and the pending deletes, stop the sweep, wake every waiter. Queued items stay readable
   * and acknowledgeable while the database is open (a forwarder may still drain); the database
   * itself is the caller's to close, after this.
   */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      this.flush();
      for (const state of this.byName.values()) for (const p of state.partitions) p.wakeAll();
    }
    return Promise.resolve();
  }

  // ---- internals ----

  /** Validate every item and reserve its bytes against its backend's cap: all or nothing. */
  private reserve(items: readonly QueueItemInput[]): Map<BackendState, number> {
    const shares = new Map<BackendState, number>();
    for (const item of items) {
      const state = this.backend(item.backend);
      this.partitionOf(state, item.shard);
      shares.set(state, (shares.get(state) ?? 0) + item.payload.length);
    }
    for (const [state, share] of shares) {
      const queued = state.bytes + state.pendingBytes;
      // An empty queue takes one batch even if it alone is over the cap: refusing it would make the
      // sender retry a request that can never fit. The disk use stays bounded by cap + one request.
      if (queued > 0 && queued + share > state.maxQueueBytes) {
        throw new BackpressureError(
          'queue_full',
          `queue for backend "${state.name}" is full: ${queued} bytes queued, max_queue_bytes is ${state.maxQueueBytes}; the sender keeps the data and retries`,
          QUEUE_FULL_RETRY_AFTER_SECONDS,
        );
      }
    }
    for (const [state, share] of shares) state.pendingBytes += share;
    return shares;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled !== undefined || this.closed) return;
    // setImmediate runs after the I/O callbacks of this loop turn: every request whose body arrived
    // in the same turn has appended by then, and they all share one transaction.
    this.flushScheduled = setImmediate(() => this.flush());
  }

  /** Commit the waiting appends and deletes in one transaction, then settle the callers. */
  private flush(): void {
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    const appends = this.pending;
    this.pending = [];
    const deletes = this.pendingDeletes();
    if (appends.length === 0 && deletes.length === 0) return;
    if (!this.db.open) {
      this.failAppends(appends, new Error('the state database is closed'));
      return;
    }
    const enqueuedAtMs = this.now();
    let seqs: number[];
    try {
      seqs = this.writeTransaction(appends, deletes, enqueuedAtMs);
    } catch (err) {
      // Rolled back: none of these appends is queued. The deletes stay pending (retried by the
      // next flush or sweep); until then those rows are only acknowledged, not gone.
      this.failAppends(appends, err);
      return;
    }
    this.flushCommits++;
    this.lastSeq = seqs.at(-1) ?? this.lastSeq;
    for (const d of deletes) d.partition.deletedSeq = d.upTo;
    const touched = new Set<Partition>();
    let i = 0;
    for (const append of appends) {
      for (const [state, share] of append.shares) {
        state.pendingBytes -= share;
        state.bytes += share;
      }
      for (const input of append.items) {
        const state = this.backend(input.backend);
        const p = this.partitionOf(state, input.shard);
        // Write-through while the cache holds the whole partition (the forwarder keeps up).
        if (p.cached.length === p.items) this.cacheAtEnd(p, { ...input, seq: seqs[i] as number, enqueuedAtMs });
        i++;
        p.items++;
        state.items++;
        touched.add(p);
      }
    }
    for (const append of appends) append.resolve();
    for (const p of touched) p.wakeAll();
  }

  private failAppends(appends: readonly PendingAppend[], err: unknown): void {
    if (appends.length === 0) {
      this.logger?.error({ err }, 'queue: could not delete acknowledged items; retrying at the next flush');
      return;
    }
    const cause = err instanceof Error ? err.message : String(err);
    this.logger?.error({ err, requests: appends.length }, 'queue: commit failed; the writes were refused with 503 and the senders retry');
    for (const append of appends) {
      for (const [state, share] of append.shares) state.pendingBytes -= share;
      append.reject(
        new BackpressureError(
          'not_durable',
          `the write could not be made durable (${cause.slice(0, 200)}); the sender keeps the data and retries`,
          QUEUE_FULL_RETRY_AFTER_SECONDS,
        ),
      );
    }
  }

  /** Add the partition's next item to its head cache, if the queue-wide budget allows. */
  private cacheAtEnd(p: Partition, item: QueueItem): void {
    if (this.cachedBytes + item.payload.length > HEAD_CACHE_MAX_BYTES) return;
    p.cached.push(item);
    this.cachedBytes += item.payload.length;
  }

  private pendingDeletes(): DeleteTask[] {
    const tasks: DeleteTask[] = [];
    for (const state of this.byName.values()) {
      for (const partition of state.partitions) {
        if (partition.ackedSeq > partition.deletedSeq) tasks.push({ state, partition, upTo: partition.ackedSeq });
      }
    }
    return tasks;
  }

  /**
   * Mark everything of the partition up to `seq` acknowledged and take it out of the accounting;
   * the DELETE goes with the next flush. Returns what was removed.
   */
  private acknowledge(state: BackendState, p: Partition, seq: number): RangeSums {
    // Never past the highest seq assigned: a later item (which gets a larger seq) must stay visible.
    const upTo = Math.min(seq, this.lastSeq);
    if (upTo <= p.ackedSeq || p.items === 0) return { items: 0, bytes: 0, samples: 0 };
    const sums = this.sumStmt.get(state.name, p.shard, p.ackedSeq, upTo) ?? { items: 0, bytes: 0, samples: 0 };
    p.ackedSeq = upTo;
    this.cachedBytes -= p.trimCached(upTo);
    p.items -= sums.items;
    state.items -= sums.items;
    state.bytes -= sums.bytes;
    if (this.closed) this.flush();
    else this.scheduleFlush();
    return sums;
  }

  /** Drop the partition's items older than max_queue_age: a prefix, since seq follows arrival. */
  private sweepPartition(state: BackendState, p: Partition): void {
    if (state.maxQueueAgeMs <= 0 || p.items === 0) return;
    const cutoff = this.now() - state.maxQueueAgeMs;
    const young = this.firstYoungStmt.get(state.name, p.shard, p.ackedSeq, cutoff);
    const upTo = young === undefined ? this.lastSeq : young.seq - 1;
    if (upTo <= p.ackedSeq) return;
    const dropped = this.acknowledge(state, p, upTo);
    if (dropped.items === 0) return;
    state.droppedByAge?.inc(dropped.samples);
    this.logger?.warn(
      { backend: state.name, shard: p.shard, items: dropped.items, samples: dropped.samples, bytes: dropped.bytes, maxQueueAgeMs: state.maxQueueAgeMs },
      `queue: dropped ${dropped.samples} samples (${dropped.items} batches) of backend "${state.name}" older than max_queue_age`,
    );
  }

  /** The periodic sweep; also retries deletes a failed flush left behind. */
  private maintain(): void {
    if (this.closed || !this.db.open) return;
    try {
      for (const state of this.byName.values()) for (const p of state.partitions) this.sweepPartition(state, p);
      if (this.pending.length === 0 && this.pendingDeletes().length > 0) this.scheduleFlush();
    } catch (err) {
      this.logger?.error({ err }, 'queue: max_queue_age sweep failed; retrying at the next one');
    }
  }

  private readLastSeq(): number {
    const row = this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").get();
    return row?.seq ?? 0;
  }

  /** Count what a previous process left queued; move items of removed shards; warn about removed backends. */
  private loadBacklog(backends: ReadonlyArray<SqliteQueueBackend>): void {
    const load = () =>
      this.db
        .prepare<[], { backend: string; shard: number; items: number; bytes: number }>(
          'SELECT backend, shard, count(*) AS items, sum(bytes) AS bytes FROM queue GROUP BY backend, shard',
        )
        .all();
    let rows = load();
    const moves = rows.filter((r) => {
      const state = this.byName.get(r.backend);
      return state !== undefined && (r.shard >= state.partitions.length || r.shard < 0);
    });
    if (moves.length > 0) {
      // The shard count went down. Those items keep their seq, so in their new partition they still
      // come before anything appended from now on.
      const update = this.db.prepare<[number, string, number]>('UPDATE queue SET shard = ? WHERE backend = ? AND shard = ?');
      this.db
        .transaction(() => {
          for (const r of moves) {
            const shards = this.backend(r.backend).partitions.length;
            update.run(((r.shard % shards) + shards) % shards, r.backend, r.shard);
          }
        })
        .immediate();
      for (const r of moves) {
        this.logger?.warn(
          { backend: r.backend, shard: r.shard, items: r.items, bytes: r.bytes },
          `queue: backend "${r.backend}" has fewer shards now; moved ${r.items} queued batches of shard ${r.shard} to another shard`,
        );
      }
      rows = load();
    }
    const orphans = new Map<string, { items: number; bytes: number }>();
    let replayItems = 0;
    let replayBytes = 0;
    for (const r of rows) {
      const state = this.byName.get(r.backend);
      if (state === undefined) {
        const o = orphans.get(r.backend) ?? { items: 0, bytes: 0 };
        o.items += r.items;
        o.bytes += r.bytes;
        orphans.set(r.backend, o);
        continue;
      }
      const p = this.partitionOf(state, r.shard);
      p.items += r.items;
      state.items += r.items;
      state.bytes += r.bytes;
      replayItems += r.items;
      replayBytes += r.bytes;
    }
    for (const [backend, o] of orphans) {
      this.logger?.warn(
        { backend, items: o.items, bytes: o.bytes },
        `queue: ${o.items} batches are queued for backend "${backend}", which is no longer configured; they stay in the database until it is configured again`,
      );
    }
    if (replayItems > 0) {
      this.logger?.info(
        { items: replayItems, bytes: replayBytes, backends: backends.map((b) => b.name) },
        `queue: ${replayItems} batches queued before the restart are forwarded first`,
      );
    }
  }

  private backend(name: string): BackendState {
    const state = this.byName.get(name);
    if (state === undefined) throw new Error(`BUG: SqliteQueue has no backend "${name}"`);
    return state;
  }

  private partition(backend: string, shard: number): Partition {
    return this.partitionOf(this.backend(backend), shard);
  }

  private partitionOf(state: BackendState, shard: number): Partition {
    const p = state.partitions[shard];
    if (p === undefined) throw new Error(`BUG: backend "${state.name}" has no shard ${shard} (it has ${state.partitions.length})`);
    return p;
  }
}

interface DeleteTask {
  readonly state: BackendState;
  readonly partition: Partition;
  readonly upTo: number;
}
