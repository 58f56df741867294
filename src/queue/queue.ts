/**
 * The queue between ingest and forwarding. Ingest appends encoded batches and answers the sender
 * only once `append` resolved; forwarders read each (backend, shard) partition in order and
 * acknowledge what the backend accepted.
 *
 * Two implementations share this contract: the bounded in-memory queue (walking skeleton) and the
 * SQLite queue (durable delivery). Nothing else in tributary may depend on which one it has.
 */

/** One batch to hand to a backend: a complete snappy-compressed RW 1.0 WriteRequest. */
export interface QueueItemInput {
  /** Which backend (its configured `name`). */
  readonly backend: string;
  /** Which forward shard of that backend; order is kept within one (backend, shard). */
  readonly shard: number;
  /** snappy block format of a WriteRequest; the queue owns this buffer after `append`. */
  readonly payload: Buffer;
  /** What the payload carries, for metrics and batching. */
  readonly samples: number;
  readonly histograms: number;
  readonly exemplars: number;
  readonly metadata: number;
  /** The tenant whose data this is (for logs and metrics on rejection by the backend). */
  readonly tenant: string;
}

export interface QueueItem extends QueueItemInput {
  /** Increasing within a (backend, shard) partition; `ack` takes it. */
  readonly seq: number;
  /** When it was appended (ms since epoch). */
  readonly enqueuedAtMs: number;
}

export interface PartitionStats {
  readonly items: number;
  readonly bytes: number;
  /** `enqueuedAtMs` of the oldest item; undefined when empty. */
  readonly oldestEnqueuedAtMs: number | undefined;
}

export interface WriteQueue {
  /**
   * Append items atomically: either all are queued or none is. Resolves once they are as durable as
   * this implementation promises. Rejects with a BackpressureError when a backend's partition is at
   * its byte cap (the sender must retry later); never drops queued data to make room.
   */
  append(items: readonly QueueItemInput[]): Promise<void>;

  /** Cheap pre-check before reading a request body: has this backend's queue room left? */
  hasRoom(backend: string): boolean;

  /**
   * The oldest items of one partition, in order, without removing them: at most `maxItems`, and
   * stopping before the item that would take the total past `maxSamples` (always at least one).
   */
  peek(backend: string, shard: number, maxItems: number, maxSamples: number): QueueItem[];

  /** Remove every item of the partition with seq <= `seq` (the backend has it, or gave up on it). */
  ack(backend: string, shard: number, seq: number): void;

  /** Resolves when the partition has at least one item, or when `signal` aborts. */
  waitForItems(backend: string, shard: number, signal: AbortSignal): Promise<void>;

  /** Depth of one backend's queue, all shards together. */
  stats(backend: string): PartitionStats;

  close(): Promise<void>;
}
