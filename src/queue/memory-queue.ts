/**
 * The bounded in-memory WriteQueue (walking skeleton): one FIFO per (backend, shard), a byte cap per
 * backend covering all its shards, and BackpressureError (503 + Retry-After) when a backend is at
 * its cap. Nothing here survives a restart; the SQLite queue is the durable implementation.
 */
import { BackpressureError } from '../errors.js';
import type { PartitionStats, QueueItem, QueueItemInput, WriteQueue } from './queue.js';
import { waitForWake } from './waiters.js';

/** How long a sender refused with `queue_full` is asked to wait before retrying. */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 5;

/** Below this many consumed slots a partition never compacts (copying tiny arrays buys nothing). */
const COMPACT_MIN_HEAD = 64;

/** What the queue needs to know about one backend. */
export interface MemoryQueueBackend {
  readonly name: string;
  readonly shards: number;
  readonly maxQueueBytes: number;
}

export interface MemoryQueueOptions {
  readonly backends: ReadonlyArray<MemoryQueueBackend>;
  /** Clock for `enqueuedAtMs` (ms since epoch); injectable for tests. */
  readonly now?: () => number;
}

/**
 * One (backend, shard) FIFO. Items live in `items[head..]`; consumed slots before `head` are cleared
 * at once (so their payloads can be collected) and the array is compacted only when the consumed
 * prefix is at least half of it, which keeps every operation O(1) amortised without Array.shift.
 */
class Partition {
  items: Array<QueueItem | undefined> = [];
  head = 0;
  nextSeq = 1;
  /** Resolvers of `waitForItems` calls parked on this partition. */
  readonly waiters = new Set<() => void>();

  get length(): number {
    return this.items.length - this.head;
  }

  first(): QueueItem | undefined {
    return this.items[this.head];
  }

  wakeAll(): void {
    if (this.waiters.size === 0) return;
    const wakers = [...this.waiters];
    this.waiters.clear();
    for (const wake of wakers) wake();
  }

  compactIfWorthIt(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= COMPACT_MIN_HEAD && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/** Per-backend state: its shards and the byte total they hold together. */
class BackendState {
  bytes = 0;
  items = 0;
  readonly partitions: Partition[];

  constructor(
    readonly name: string,
    readonly maxQueueBytes: number,
    shards: number,
  ) {
    this.partitions = Array.from({ length: shards }, () => new Partition());
  }
}

/** Bounded in-memory implementation of {@link WriteQueue}. */
export class MemoryQueue implements WriteQueue {
  private readonly byName = new Map<string, BackendState>();
  private readonly now: () => number;
  private closed = false;

  constructor(options: MemoryQueueOptions) {
    this.now = options.now ?? Date.now;
    for (const b of options.backends) {
      if (this.byName.has(b.name)) throw new Error(`MemoryQueue: duplicate backend "${b.name}"`);
      if (!Number.isInteger(b.shards) || b.shards < 1) throw new Error(`MemoryQueue: backend "${b.name}" needs at least one shard`);
      this.byName.set(b.name, new BackendState(b.name, b.maxQueueBytes, b.shards));
    }
  }

  /** Names of the configured backends, in configuration order (for the queue depth gauges). */
  backends(): string[] {
    return [...this.byName.keys()];
  }

  append(items: readonly QueueItemInput[]): Promise<void> {
    // Synchronous check-then-append: no await in between, so concurrent appends cannot both pass
    // the check and overshoot the cap.
    try {
      this.appendNow(items);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  hasRoom(backend: string): boolean {
    const state = this.backend(backend);
    return state.bytes < state.maxQueueBytes;
  }

  peek(backend: string, shard: number, maxItems: number, maxSamples: number): QueueItem[] {
    const p = this.partition(backend, shard);
    const out: QueueItem[] = [];
    let samples = 0;
    const end = p.items.length;
    for (let i = p.head; i < end && out.length < maxItems; i++) {
      const item = p.items[i] as QueueItem;
      const itemSamples = item.samples + item.histograms;
      // The first item always goes, even when it alone is over maxSamples: otherwise it would
      // block its partition forever.
      if (out.length > 0 && samples + itemSamples > maxSamples) break;
      samples += itemSamples;
      out.push(item);
    }
    return out;
  }

  ack(backend: string, shard: number, seq: number): void {
    const state = this.backend(backend);
    const p = this.partition(backend, shard);
    let item = p.first();
    while (item !== undefined && item.seq <= seq) {
      state.bytes -= item.payload.length;
      state.items--;
      p.items[p.head] = undefined;
      p.head++;
      item = p.first();
    }
    p.compactIfWorthIt();
  }

  waitForItems(backend: string, shard: number, signal: AbortSignal): Promise<void> {
    const p = this.partition(backend, shard);
    if (p.length > 0 || this.closed || signal.aborted) return Promise.resolve();
    return waitForWake(p.waiters, signal);
  }

  stats(backend: string): PartitionStats {
    const state = this.backend(backend);
    let oldest: number | undefined;
    for (const p of state.partitions) {
      const first = p.first();
      if (first !== undefined && (oldest === undefined || first.enqueuedAtMs < oldest)) oldest = first.enqueuedAtMs;
    }
    return { items: state.items, bytes: state.bytes, oldestEnqueuedAtMs: oldest };
  }

  /** Refuse further appends and wake every waiter; queued items stay readable (for a drain). */
  close(): Promise<void> {
    this.closed = true;
    for (const state of this.byName.values()) for (const p of state.partitions) p.wakeAll();
    return Promise.resolve();
  }

  private appendNow(items: readonly QueueItemInput[]): void {
    if (this.closed) {
      throw new BackpressureError('shutting_down', 'tributary is shutting down; the sender keeps the data and retries', QUEUE_FULL_RETRY_AFTER_SECONDS);
    }
    // Validate everything and sum each backend's share before touching any partition: all or nothing.
    const shares = new Map<BackendState, number>();
    for (const item of items) {
      const state = this.backend(item.backend);
      this.partitionOf(state, item.shard);
      shares.set(state, (shares.get(state) ?? 0) + item.payload.length);
    }
    for (const [state, share] of shares) {
      // An empty queue takes one batch even if it alone is over the cap: refusing it would make the
      // sender retry a request that can never fit. Memory stays bounded by cap + one request.
      if (state.bytes > 0 && state.bytes + share > state.maxQueueBytes) {
        throw new BackpressureError(
          'queue_full',
          `queue for backend "${state.name}" is full: ${state.bytes} bytes queued, max_queue_bytes is ${state.maxQueueBytes}; the sender keeps the data and retries`,
          QUEUE_FULL_RETRY_AFTER_SECONDS,
        );
      }
    }

    const enqueuedAtMs = this.now();
    const touched = new Set<Partition>();
    for (const item of items) {
      const state = this.backend(item.backend);
      const p = this.partitionOf(state, item.shard);
      p.items.push({
        backend: item.backend,
        shard: item.shard,
        payload: item.payload,
        samples: item.samples,
        histograms: item.histograms,
        exemplars: item.exemplars,
        metadata: item.metadata,
        tenant: item.tenant,
        seq: p.nextSeq++,
        enqueuedAtMs,
      });
      state.bytes += item.payload.length;
      state.items++;
      touched.add(p);
    }
    for (const p of touched) p.wakeAll();
  }

  private backend(name: string): BackendState {
    const state = this.byName.get(name);
    if (state === undefined) throw new Error(`BUG: MemoryQueue has no backend "${name}"`);
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
