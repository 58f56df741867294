/**
 * Forwarding for one backend: one loop per shard, each reading its queue partition in order,
 * sending a batch, and acknowledging it only once the backend answered for good. Retryable
 * failures (network, timeout, 5xx, 429) resend the same batch with backoff, forever: an outage is
 * not data loss, and never skipping ahead keeps the order per series. A non-retryable answer drops
 * the batch, counted and logged at error.
 */
import type { Logger } from 'pino';
import type { Counter, Histogram } from 'prom-client';
import type { BackendConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { QueueItem, WriteQueue } from '../queue/queue.js';
import { concatSnappyBlocks, declaredSnappyLength } from '../wire/snappy.js';
import { Backoff, sleep } from './backoff.js';
import type { SendOutcome } from './outcome.js';
import { BackendSender } from './send.js';

/** Most queue items merged into one request (bounds the merge work and the request size when items carry no samples). */
export const MAX_ITEMS_PER_SEND = 256;

/**
 * Merged sends stay below this many decompressed bytes: Prometheus (since 2.50) and client_golang
 * receivers refuse bodies declaring more than 32 MiB decoded.
 */
export const MAX_DECODED_BYTES_PER_SEND = 16 * 1024 * 1024;

/** While retries keep failing, a warning is logged at most this often per shard (the rest go to debug). */
const RETRY_WARN_INTERVAL_MS = 60_000;

export interface BackendForwarderOptions {
  readonly backend: BackendConfig;
  readonly queue: WriteQueue;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The whole User-Agent header value, e.g. `tributary/0.1.0`. */
  readonly userAgent: string;
  /** Uniform in [0, 1) for backoff jitter; injectable for tests. */
  readonly random?: () => number;
}

/** What one send carries: a run of consecutive items of one partition. */
export interface ForwardBatch {
  /** In queue order; never empty. */
  readonly items: readonly QueueItem[];
  /** Snappy-compressed WriteRequest. */
  readonly body: Buffer;
  /** seq of the last item: acknowledging it acknowledges the whole batch. */
  readonly lastSeq: number;
  /** Float samples plus native histogram samples. */
  readonly samples: number;
  /** The tenant of every item, or undefined when they differ (possible only without tenant_header). */
  readonly tenant: string | undefined;
}

/** Per-shard state that outlives one batch. */
interface ShardState {
  readonly shard: number;
  readonly backoff: Backoff;
  /** When the last retry warning was logged (0: none in the current failure streak). */
  lastRetryWarnMs: number;
}

type StepResult = 'sent' | 'idle' | 'done';

/** Forwards one backend's queue. Construct, `start()`, and `stop()` on shutdown or reload. */
export class BackendForwarder {
  private readonly backend: BackendConfig;
  private readonly queue: WriteQueue;
  private readonly logger: Logger;
  private readonly sender: BackendSender;
  private readonly random: (() => number) | undefined;
  private readonly singleTenantPerSend: boolean;
  /** Aborted when stop() begins: idle waits end, batch deadlines are cut short, the drain starts. */
  private readonly draining = new AbortController();
  /** Aborted when the drain time is up: in-flight sends and backoff sleeps end, loops exit. */
  private readonly halted = new AbortController();
  private loops: Array<Promise<void>> | undefined;
  private stopped: Promise<void> | undefined;

  // Metric children, resolved once: the label lookup is not free and these run per send.
  private readonly sentSamples: Counter.Internal;
  private readonly rejectedSamples: Counter.Internal;
  private readonly duration: Histogram.Internal<'backend'>;
  private readonly requestsByCode = new Map<string, Counter.Internal>();
  private readonly retriesByCode = new Map<string, Counter.Internal>();
  private readonly metrics: Metrics;

  /** Reads the backend's secret files (basic auth password, bearer token): throws if one is missing. */
  constructor(options: BackendForwarderOptions) {
    this.backend = options.backend;
    this.queue = options.queue;
    this.metrics = options.metrics;
    this.logger = options.logger.child({ backend: options.backend.name });
    this.random = options.random;
    this.singleTenantPerSend = options.backend.tenant_header !== undefined;
    this.sender = new BackendSender(options.backend, { userAgent: options.userAgent });
    const name = options.backend.name;
    this.sentSamples = options.metrics.forwardSamples.labels(name, 'sent');
    this.rejectedSamples = options.metrics.forwardSamples.labels(name, 'rejected');
    this.duration = options.metrics.forwardDuration.labels(name);
  }

  /** Start one loop per shard. Calling it again, or after stop(), does nothing. */
  start(): void {
    if (this.loops !== undefined || this.stopped !== undefined) return;
    this.loops = [];
    for (let shard = 0; shard < this.backend.shards; shard++) {
      const state: ShardState = {
        shard,
        backoff: new Backoff({
          minMs: this.backend.min_backoff,
          maxMs: this.backend.max_backoff,
          ...(this.random === undefined ? {} : { random: this.random }),
        }),
        lastRetryWarnMs: 0,
      };
      this.loops.push(this.runShard(state));
    }
  }

  /**
   * Stop taking new work and drain: keep sending what is queued until every shard's partition is
   * empty or `drainTimeoutMs` passed, then abort in-flight sends (they stay queued) and close the
   * connections. Resolves when everything has stopped; calling it again returns the same promise.
   */
  stop(options: { drainTimeoutMs: number }): Promise<void> {
    this.stopped ??= this.drainAndClose(options.drainTimeoutMs);
    return this.stopped;
  }

  private async drainAndClose(drainTimeoutMs: number): Promise<void> {
    this.draining.abort();
    const loops = this.loops ?? [];
    if (loops.length > 0) {
      const timer = setTimeout(() => this.halted.abort(), drainTimeoutMs);
      await Promise.all(loops);
      clearTimeout(timer);
    }
    const timedOut = this.halted.signal.aborted;
    this.halted.abort();
    await this.sender.destroy();
    const left = this.queue.stats(this.backend.name);
    if (timedOut && left.items > 0) {
      this.logger.warn(
        { items: left.items, bytes: left.bytes, drainTimeoutMs },
        'forwarder stopped before its queue was drained; the rest stays queued (and is lost with an in-memory queue)',
      );
    } else {
      this.logger.info({ items: left.items }, 'forwarder stopped');
    }
  }

  /** One shard's loop. Never rejects: an exception here is a bug, logged and retried after a backoff. */
  private async runShard(state: ShardState): Promise<void> {
    let idleWakeups = 0;
    while (!this.halted.signal.aborted) {
      let result: StepResult;
      try {
        result = await this.step(state);
      } catch (err) {
        // Nothing was acknowledged, so the batch is still at the head of the partition: retrying
        // after a pause loses nothing and does not spin if the bug is persistent.
        this.logger.error({ err, shard: state.shard }, 'BUG: forwarder shard loop failed; retrying the same batch after a backoff');
        await sleep(state.backoff.next(), this.halted.signal);
        continue;
      }
      if (result === 'done') break;
      if (result === 'idle') {
        // Woken with nothing to read (a closed queue, or a spurious wake-up): pause rather than
        // spin if it keeps happening.
        if (++idleWakeups > 1) await sleep(Math.max(1, this.backend.min_backoff), this.draining.signal);
      } else {
        idleWakeups = 0;
      }
    }
  }

  /** Wait for items, send one batch until the backend settled it. */
  private async step(state: ShardState): Promise<StepResult> {
    const name = this.backend.name;
    await this.queue.waitForItems(name, state.shard, this.draining.signal);
    if (this.halted.signal.aborted) return 'done';
    const items = await this.collect(state.shard);
    if (items.length === 0) return this.draining.signal.aborted ? 'done' : 'idle';
    const settled = await this.deliver(state, this.buildBatchSafely(sendablePrefix(items, this.singleTenantPerSend)));
    return settled ? 'sent' : 'done';
  }

  /**
   * Peek the next items; with a batch_send_deadline, give a partial batch up to that long to fill
   * up (not while draining: then everything goes as soon as possible).
   */
  private async collect(shard: number): Promise<QueueItem[]> {
    const name = this.backend.name;
    const maxSamples = this.backend.max_samples_per_send;
    let items = this.queue.peek(name, shard, MAX_ITEMS_PER_SEND, maxSamples);
    const deadlineMs = this.backend.batch_send_deadline;
    if (deadlineMs <= 0 || items.length === 0) return items;
    const untilMs = Date.now() + deadlineMs;
    // Poll rather than wait for an append: waitForItems returns at once while items exist.
    const pollMs = Math.max(10, Math.floor(deadlineMs / 20));
    while (!this.draining.signal.aborted && !this.isFull(shard, items)) {
      const remainingMs = untilMs - Date.now();
      if (remainingMs <= 0) break;
      await sleep(Math.min(remainingMs, pollMs), this.draining.signal);
      items = this.queue.peek(name, shard, MAX_ITEMS_PER_SEND, maxSamples);
    }
    return items;
  }

  /** No more items would fit: the sample or item cap is reached, or the next queued item does not fit. */
  private isFull(shard: number, items: readonly QueueItem[]): boolean {
    if (items.length >= MAX_ITEMS_PER_SEND) return true;
    if (countSamples(items) >= this.backend.max_samples_per_send) return true;
    return this.queue.peek(this.backend.name, shard, items.length + 1, Number.MAX_SAFE_INTEGER).length > items.length;
  }

  private buildBatchSafely(items: readonly QueueItem[]): ForwardBatch {
    try {
      return buildBatch(items);
    } catch (err) {
      // A queued payload we cannot decompress is our bug; sending the first item as it was queued
      // keeps the shard moving (the backend will judge that payload) instead of failing forever.
      const first = items.slice(0, 1);
      this.logger.error({ err, items: items.length }, 'BUG: could not merge queued payloads; sending them one at a time');
      return buildBatch(first);
    }
  }

  /**
   * Send one batch until the backend settles it (ok or reject), retrying with backoff.
   * @returns false if the forwarder was halted first (nothing acknowledged: the batch stays queued)
   */
  private async deliver(state: ShardState, batch: ForwardBatch): Promise<boolean> {
    const name = this.backend.name;
    const tenantHeaderValue = this.singleTenantPerSend ? batch.tenant : undefined;
    for (;;) {
      if (this.halted.signal.aborted) return false;
      const startedMs = performance.now();
      const outcome = await this.sender.send(batch.body, tenantHeaderValue, this.halted.signal);
      // A send cut short by the halt is no answer from the backend: do not count it.
      if (outcome.kind === 'retry' && this.halted.signal.aborted) return false;
      this.duration.observe((performance.now() - startedMs) / 1000);
      this.counter(this.requestsByCode, this.metrics.forwardRequests, outcome.kind === 'retry' ? outcome.code : String(outcome.status)).inc();

      if (outcome.kind === 'ok') {
        this.queue.ack(name, state.shard, batch.lastSeq);
        this.sentSamples.inc(batch.samples);
        if (state.backoff.attempts > 0) {
          this.logger.info({ shard: state.shard, retries: state.backoff.attempts }, 'backend accepted the batch after retries');
        }
        state.backoff.reset();
        state.lastRetryWarnMs = 0;
        return true;
      }

      if (outcome.kind === 'reject') {
        state.backoff.reset();
        state.lastRetryWarnMs = 0;
        if (batch.items.length > 1) {
          // A merged batch is refused as a whole (Prometheus rolls back the entire request on one
          // bad sample): resend its items one by one so only the offending ones are dropped.
          this.logger.warn(
            { shard: state.shard, status: outcome.status, message: outcome.message, items: batch.items.length },
            'backend rejected a merged batch; resending its items one at a time so only the offending ones are dropped',
          );
          for (const item of batch.items) {
            if (!(await this.deliver(state, buildBatch([item])))) return false;
          }
          return true;
        }
        this.logger.error(
          { shard: state.shard, status: outcome.status, message: outcome.message, samples: batch.samples, tenant: batch.tenant },
          `backend rejected a batch with HTTP ${outcome.status} (not retryable); dropping ${batch.samples} samples: ${outcome.message}`,
        );
        this.rejectedSamples.inc(batch.samples);
        this.queue.ack(name, state.shard, batch.lastSeq);
        return true;
      }

      this.counter(this.retriesByCode, this.metrics.forwardRetries, outcome.code).inc();
      const delayMs = state.backoff.next(outcome.retryAfterMs);
      this.logRetry(state, outcome, delayMs);
      await sleep(delayMs, this.halted.signal);
    }
  }

  private logRetry(state: ShardState, outcome: Extract<SendOutcome, { kind: 'retry' }>, delayMs: number): void {
    const fields = { shard: state.shard, code: outcome.code, message: outcome.message, retryInMs: delayMs, attempt: state.backoff.attempts };
    const nowMs = Date.now();
    if (nowMs - state.lastRetryWarnMs >= RETRY_WARN_INTERVAL_MS) {
      state.lastRetryWarnMs = nowMs;
      this.logger.warn(fields, `send to backend failed (${outcome.code}); retrying the same batch`);
    } else {
      this.logger.debug(fields, `send to backend failed (${outcome.code}); retrying the same batch`);
    }
  }

  /** The child of a code-labelled counter, created on first use (codes are a small bounded set). */
  private counter(cache: Map<string, Counter.Internal>, metric: Counter<'backend' | 'code'>, code: string): Counter.Internal {
    let child = cache.get(code);
    if (child === undefined) {
      child = metric.labels(this.backend.name, code);
      cache.set(code, child);
    }
    return child;
  }
}

/**
 * The longest prefix of `items` that may go in one request: at most MAX_DECODED_BYTES_PER_SEND
 * decoded (the first item always goes), and, when the tenant travels in a header, only items of
 * the first item's tenant.
 */
export function sendablePrefix(items: readonly QueueItem[], singleTenant: boolean): readonly QueueItem[] {
  const first = items[0];
  if (first === undefined) return items;
  let end = 1;
  let decodedBytes = declaredSnappyLength(first.payload);
  while (end < items.length) {
    const next = items[end] as QueueItem;
    if (singleTenant && next.tenant !== first.tenant) break;
    decodedBytes += declaredSnappyLength(next.payload);
    if (decodedBytes > MAX_DECODED_BYTES_PER_SEND) break;
    end++;
  }
  return end === items.length ? items : items.slice(0, end);
}

/**
 * The request for `items` (non-empty, consecutive items of one partition). One item is sent
 * exactly as queued (no re-compression). Several are merged: RW 1.0 WriteRequest has only repeated
 * fields, so concatenated encodings are one WriteRequest holding all their series in order.
 * Throws only if a queued payload is not valid snappy, which is a bug.
 */
export function buildBatch(items: readonly QueueItem[]): ForwardBatch {
  const first = items[0];
  const last = items[items.length - 1];
  if (first === undefined || last === undefined) throw new Error('BUG: buildBatch needs at least one item');
  let tenant: string | undefined = first.tenant;
  for (const item of items) if (item.tenant !== tenant) tenant = undefined;
  const body = items.length === 1 ? first.payload : mergePayloads(items);
  return { items, body, lastSeq: last.seq, samples: countSamples(items), tenant };
}

function mergePayloads(items: readonly QueueItem[]): Buffer {
  // Merged still compressed: no decompress/compress round trip on the forward path.
  return concatSnappyBlocks(items.map((item) => item.payload));
}

function countSamples(items: readonly QueueItem[]): number {
  let samples = 0;
  for (const item of items) samples += item.samples + item.histograms;
  return samples;
}
