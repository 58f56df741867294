/**
 * Forwarding for one backend: one loop per shard, each reading its queue partition in order,
 * sending a batch, and acknowledging it only once the backend answered for good. Retryable
 * failures (network, timeout, 5xx, 429) resend the same batch with backoff, forever: an outage is
 * not data loss, and never skipping ahead keeps the order per series.
 *
 * One bad sample must not cost good data (Prometheus 2.42 rolls back a whole request on the first
 * bad sample). So a batch the backend refuses for its content is bisected, at item boundaries and
 * then at series boundaries, and the halves are sent in order (the first settled before the
 * second) until the refused unit is a single series, which alone is dropped, counted in
 * forwardSamples{result="rejected"} and logged:
 * - 400 and the other content refusals: split at once (setup refusals such as 401/404 are not split:
 *   see isSetupRejection);
 * - 413: split, and the backend's size limit is learned (the decoded bytes per send are capped at
 *   half of what it refused), so later sends are made small enough beforehand;
 * - a 5xx that only this batch keeps getting (a poison batch, not an outage): see onRetryable.
 * Refusal-driven splitting is bounded per batch (MAX_SPLIT_SENDS_PER_BATCH), so a backend that
 * refuses everything cannot multiply the traffic.
 */
import type { Logger } from 'pino';
import type { Counter, Histogram } from 'prom-client';
import type { BackendConfig } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { QueueItem, WriteQueue } from '../queue/queue.js';
import { LogThrottle } from '../observability/throttled-log.js';
import { concatSnappyBlocks, declaredSnappyLength } from '../wire/snappy.js';
import { Backoff, sleep } from './backoff.js';
import { isPermanentServerError, isPoisonCandidate, isSetupRejection, type SendOutcome } from './outcome.js';
import { BackendSender } from './send.js';
import { payloadSeriesKeys, splitWriteRequest, summarizePayload } from './split.js';

/** Most queue items merged into one request (bounds the merge work and the request size when items carry no samples). */
export const MAX_ITEMS_PER_SEND = 256;

/**
 * Merged sends stay below this many decompressed bytes: Prometheus (since 2.50) and client_golang
 * receivers refuse bodies declaring more than 32 MiB decoded.
 */
export const MAX_DECODED_BYTES_PER_SEND = 16 * 1024 * 1024;

/** While retries keep failing, a warning is logged at most this often per shard (the rest go to debug). */
const RETRY_WARN_INTERVAL_MS = 60_000;

/**
 * Most extra sends one batch may cost to isolate what the backend refuses: each split costs two
 * (its halves). Finding one bad series among N costs about 2·log2(N) sends (14 for 100 series, 32
 * for 50 000), so this isolates a few bad series per batch; past it, refused parts are dropped
 * whole. Splits made to fit a learned size limit (413) are not counted: they carry data expected
 * to be accepted, and their number is bounded by the batch size over that limit.
 */
export const MAX_SPLIT_SENDS_PER_BATCH = 64;

/**
 * Consecutive 5xx answers (other than 502/503/504) to the same part before it may be taken for
 * poison; see BackendForwarder.onRetryable.
 */
export const POISON_AFTER_FAILURES = 5;

/** Drops are logged at error at most this often per kind; the rest go to debug, and the next error line says how many. */
const DROP_LOG_INTERVAL_MS = 5000;

/** Split notices are logged at warn at most this often per status; the rest go to debug. */
const SPLIT_LOG_INTERVAL_MS = 10_000;

export interface BackendForwarderOptions {
  readonly backend: BackendConfig;
  readonly queue: WriteQueue;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The whole User-Agent header value, e.g. `tributary/0.1.0`. */
  readonly userAgent: string;
  /** Uniform in [0, 1) for backoff jitter; injectable for tests. */
  readonly random?: () => number;
  /** See {@link POISON_AFTER_FAILURES}. */
  readonly poisonAfterFailures?: number;
  /** See {@link MAX_SPLIT_SENDS_PER_BATCH}. */
  readonly maxSplitSendsPerBatch?: number;
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

/**
 * A piece of a batch on its way to the backend: whole consecutive items, or some series of one
 * item after that item was split. A batch starts as one part holding all its items.
 */
interface Part {
  /** Snappy-compressed WriteRequest. */
  readonly body: Buffer;
  /**
   * Indexes (in the batch's items) of the first and last item this part carries: whole items, or
   * (when first === last) possibly only some of that item's series, once it was split.
   */
  readonly firstItem: number;
  readonly lastItem: number;
  /** Float samples plus native histogram samples. */
  readonly samples: number;
  /** Uncompressed size: what a learned size limit is compared with. */
  readonly decodedBytes: number;
  /**
   * The backend-wide success count (okSerial) when this part was made, or when it last failed
   * for a reason that says "outage" (network, timeout, 429, 502/503/504): a success after it,
   * seen before one of this part's failed sends, shows the backend was up while it failed.
   */
  refOkSerial: number;
  /** Consecutive poison-candidate failures (5xx other than 502/503/504). */
  streak: number;
  /** Whether this part already tried to let its successor go first (see trySwap). */
  swapTried: boolean;
  /** Known to hold at most one series: splitting it gives nothing. */
  unsplittable: boolean;
}

/** One batch being delivered: its parts still to settle, in the order they must go. */
interface BatchRun {
  readonly batch: ForwardBatch;
  readonly pending: Part[];
  /** Split sends this batch may still spend on isolating refused data. */
  splitSendsLeft: number;
  /** Index of the last item acknowledged to the queue, -1 for none. */
  ackedThrough: number;
}

/** Why data was dropped: the wording of the log line. */
type DropReason = 'rejected' | 'setup' | 'too_large' | 'poison' | 'split_budget';

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
  private readonly poisonAfterFailures: number;
  private readonly maxSplitSendsPerBatch: number;
  /** 2xx answers so far, all shards: what "another send succeeded since" is measured with. */
  private okSerial = 0;
  /** Cap on the decoded bytes of one send: MAX_DECODED_BYTES_PER_SEND until a 413 teaches less. */
  private sendLimitBytes = MAX_DECODED_BYTES_PER_SEND;
  private readonly dropLog = new LogThrottle(DROP_LOG_INTERVAL_MS);
  private readonly splitLog = new LogThrottle(SPLIT_LOG_INTERVAL_MS);

  // Metric children, resolved once: the label lookup is not free and these run per send.
  private readonly sentSamples: Counter.Internal;
  private readonly rejectedSamples: Counter.Internal;
  private readonly duration: Histogram.Internal<'backend'>;
  private readonly requestsByCode = new Map<string, Counter.Internal>();
  private readonly retriesByCode = new Map<string, Counter.Internal>();
  private readonly splitsByCode = new Map<string, Counter.Internal>();
  private readonly metrics: Metrics;

  /** Reads the backend's secret files (basic auth password, bearer token): throws if one is missing. */
  constructor(options: BackendForwarderOptions) {
    this.backend = options.backend;
    this.queue = options.queue;
    this.metrics = options.metrics;
    this.logger = options.logger.child({ backend: options.backend.name });
    this.random = options.random;
    this.poisonAfterFailures = Math.max(1, options.poisonAfterFailures ?? POISON_AFTER_FAILURES);
    this.maxSplitSendsPerBatch = Math.max(0, options.maxSplitSendsPerBatch ?? MAX_SPLIT_SENDS_PER_BATCH);
    this.singleTenantPerSend = options.backend.tenant_header !== undefined;
    this.sender = new BackendSender(options.backend, { userAgent: options.userAgent });
    const name = options.backend.name;
    this.sentSamples = options.metrics.forwardSamples.labels(name, 'sent');
    this.rejectedSamples = options.metrics.forwardSamples.labels(name, 'rejected');
    this.duration = options.metrics.forwardDuration.labels(name);
  }

  /**
   * The most decoded bytes one send may carry now: MAX_DECODED_BYTES_PER_SEND, or less once the
   * backend answered 413 (for a gauge, e.g. tributary_forward_max_send_bytes{backend}).
   */
  get maxSendBytes(): number {
    return this.sendLimitBytes;
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
        'forwarder stopped before its queue was drained; the rest stays queued on disk and is sent after the next start',
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
        // Only what the backend settled was acknowledged, so the rest of the batch is still at the
        // head of the partition: retrying after a pause loses nothing and does not spin if the bug
        // is persistent.
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
    const settled = await this.deliver(state, this.buildBatchSafely(sendablePrefix(items, this.singleTenantPerSend, this.sendLimitBytes)));
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

  /** No more items would fit: the sample, byte or item cap is reached, or the next queued item does not fit. */
  private isFull(shard: number, items: readonly QueueItem[]): boolean {
    if (items.length >= MAX_ITEMS_PER_SEND) return true;
    if (countSamples(items) >= this.backend.max_samples_per_send) return true;
    if (decodedBytesOf(items) >= this.sendLimitBytes) return true;
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
   * Deliver one batch: send its parts in order until each is settled (accepted, or dropped for
   * good), splitting what the backend refuses, and acknowledging items to the queue as soon as
   * every part carrying them is settled.
   * @returns false if the forwarder was halted first (what is not acknowledged stays queued)
   */
  private async deliver(state: ShardState, batch: ForwardBatch): Promise<boolean> {
    const tenantHeaderValue = this.singleTenantPerSend ? batch.tenant : undefined;
    const root: Part = {
      body: batch.body,
      firstItem: 0,
      lastItem: batch.items.length - 1,
      samples: batch.samples,
      decodedBytes: decodedBytesOf(batch.items),
      refOkSerial: this.okSerial,
      streak: 0,
      swapTried: false,
      unsplittable: false,
    };
    const run: BatchRun = { batch, pending: [root], splitSendsLeft: this.maxSplitSendsPerBatch, ackedThrough: -1 };

    for (;;) {
      const part = run.pending[0];
      if (part === undefined) return true;
      if (this.halted.signal.aborted) return false;
      // Over a size limit learned from a 413: split beforehand rather than be refused again.
      if (part.decodedBytes > this.sendLimitBytes && this.splitInPlace(run, part, '413', false)) continue;

      const okAtSend = this.okSerial;
      const startedMs = performance.now();
      const outcome = await this.sender.send(part.body, tenantHeaderValue, this.halted.signal);
      // A send cut short by the halt is no answer from the backend: do not count it.
      if (outcome.kind === 'retry' && this.halted.signal.aborted) return false;
      this.duration.observe((performance.now() - startedMs) / 1000);
      this.counter(this.requestsByCode, this.metrics.forwardRequests, outcome.kind === 'retry' ? outcome.code : String(outcome.status)).inc();

      if (outcome.kind === 'ok') {
        this.okSerial++;
        this.sentSamples.inc(part.samples);
        if (state.backoff.attempts > 0) {
          this.logger.info({ shard: state.shard, retries: state.backoff.attempts }, 'backend accepted the batch after retries');
        }
        state.backoff.reset();
        state.lastRetryWarnMs = 0;
        run.pending.shift();
        this.settle(state, run);
        continue;
      }

      if (outcome.kind === 'reject') {
        state.backoff.reset();
        state.lastRetryWarnMs = 0;
        this.onReject(state, run, part, outcome.status, outcome.message);
        continue;
      }

      if (this.onRetryable(state, run, part, outcome, okAtSend)) continue;
      this.counter(this.retriesByCode, this.metrics.forwardRetries, outcome.code).inc();
      const delayMs = state.backoff.next(outcome.retryAfterMs);
      this.logRetry(state, outcome, delayMs);
      await sleep(delayMs, this.halted.signal);
    }
  }

  /** The backend refused `part` (the head of `run`) for good: split it, or drop it. */
  private onReject(state: ShardState, run: BatchRun, part: Part, status: number, message: string): void {
    if (isSetupRejection(status)) {
      // The backend says its setup is wrong (credentials, URL, method, content type), not that the
      // data is: every half would get the same answer, so splitting would only multiply requests.
      // Drop, count and log at error, as Prometheus does; the fix is in the configuration.
      this.drop(state, run, part, 'setup', String(status), message);
      return;
    }
    if (status === 413) {
      // Too large, not bad: a size limit must never become data loss. Split and learn the limit;
      // only a single series that alone is too large is dropped.
      if (this.splitInPlace(run, part, '413', false)) {
        this.lowerSendLimit(part, message);
      } else {
        this.drop(state, run, part, 'too_large', '413', message);
      }
      return;
    }
    // 400 and the other content refusals: Prometheus rolls back the whole request for one bad
    // sample, so bisect until the refused unit is a single series.
    this.isolate(state, run, part, String(status), message, 'rejected');
  }

  /**
   * A retryable failure of `part`: decide whether it is a poison part rather than an outage.
   * @returns true when handled here (split, dropped or reordered: go on at once), false to retry
   *   the same part after a backoff
   *
   * Prometheus 2.42 answers 500 for some faults of the data (duplicate label names, empty label
   * sets, native histograms without the flag, too old samples), which retrying never fixes: the
   * shard would be blocked forever. The bodies it sends for those are recognised at once
   * (isPermanentServerError) and handled like a 400. For any other 5xx (except 502/503/504, which
   * say "unavailable": always an outage; and 429, timeouts and network errors, never poison), a
   * part is poison when it failed `poisonAfterFailures` times in a row and some send of this
   * backend (another shard, or another part of this batch) succeeded after the part was made and
   * before one of its failed attempts was sent: the backend was up, yet it refuses this part.
   * Successes are compared with send times, so one that lands just after a recovery does not
   * condemn an attempt sent during the outage. A poison part is bisected like a 400; a single
   * series that stays poison is dropped.
   *
   * Without such a success (one shard, or the other shards idle), an outage and a poison part look
   * the same, so the part's own halves are made the signal, and nothing is dropped on the way:
   * 1. after `poisonAfterFailures` failures the part is split anyway (a probe split: lossless)
   *    and its first half sent; if that half is accepted, the backend is up, which is the success
   *    that makes the second half poison if it keeps failing (then bisected as above);
   * 2. if the first half fails too, it is probed the same way, down to a single series;
   * 3. a single series still failing cannot be split: its successor goes first instead, when that
   *    holds none of its series (per-series order is kept: only the order between different series
   *    changes). If the successor is accepted, the single series is poison; if it fails as well,
   *    this is an outage, and both are retried without limit.
   * In a real outage answering 500 this costs one batch being cut into about log2(series) parts
   * (within the split budget) and sent as such after the recovery; no data is lost.
   */
  private onRetryable(state: ShardState, run: BatchRun, part: Part, outcome: Extract<SendOutcome, { kind: 'retry' }>, okAtSend: number): boolean {
    if (isPermanentServerError(outcome.code, outcome.message)) {
      this.isolate(state, run, part, outcome.code, outcome.message, 'rejected');
      return true;
    }
    if (!isPoisonCandidate(outcome.code)) {
      // An outage-like failure: successes before it say nothing about what follows.
      part.streak = 0;
      part.refOkSerial = this.okSerial;
      return false;
    }
    part.streak++;
    if (part.streak < this.poisonAfterFailures) return false;
    if (okAtSend > part.refOkSerial) {
      this.isolate(state, run, part, outcome.code, outcome.message, 'poison');
      return true;
    }
    if (this.splitInPlace(run, part, outcome.code, true)) {
      this.logSplit(
        state,
        run,
        part,
        outcome.code,
        outcome.message,
        `a batch keeps failing with HTTP ${outcome.code} and no other send to this backend succeeded meanwhile (an outage or a poison batch): splitting it to tell which; nothing is dropped unless another send succeeds while a part still fails`,
      );
      return true;
    }
    return this.trySwap(state, run, part, outcome.code);
  }

  /**
   * Let the successor of `part` (the head of `run`) go first, once, if it holds none of the
   * series of `part` (so per-series order is kept). Its success then tells a poison part from an
   * outage (see onRetryable).
   */
  private trySwap(state: ShardState, run: BatchRun, part: Part, code: string): boolean {
    if (part.swapTried) return false;
    part.swapTried = true;
    const next = run.pending[1];
    if (next === undefined) return false;
    try {
      const mine = new Set(payloadSeriesKeys(part.body));
      if (payloadSeriesKeys(next.body).some((key) => mine.has(key))) return false;
    } catch (err) {
      this.logger.error({ err, shard: state.shard }, 'BUG: could not decode a queued payload; not reordering');
      return false;
    }
    run.pending[0] = next;
    run.pending[1] = part;
    this.logger.warn(
      { shard: state.shard, code, samples: part.samples },
      `a part of a batch keeps failing with HTTP ${code} and cannot be split further; sending the next part (other series) first to tell an outage from a poison series`,
    );
    return true;
  }

  /**
   * Bisect a refused part (the head of `run`) within the batch's split budget, or drop it when it
   * is a single series or the budget is spent.
   */
  private isolate(state: ShardState, run: BatchRun, part: Part, code: string, message: string, reason: 'rejected' | 'poison'): void {
    if (run.splitSendsLeft < 2) {
      this.drop(state, run, part, part.unsplittable ? reason : 'split_budget', code, message, reason);
      return;
    }
    if (this.splitInPlace(run, part, code, true)) {
      this.logSplit(
        state,
        run,
        part,
        code,
        message,
        reason === 'poison'
          ? `a batch keeps failing with HTTP ${code} while other sends to this backend succeed (a poison batch, not an outage); splitting it to isolate the series at fault`
          : `backend refused a batch with HTTP ${code}; splitting it to isolate the series at fault so the rest is delivered`,
      );
      return;
    }
    this.drop(state, run, part, reason, code, message);
  }

  /**
   * Replace `part` (the head of `run`) by its two halves, counted in forwardSplits{code}.
   * @param budgeted whether the halves' sends come out of the batch's split budget (refusals); size splits do not
   * @returns false when it holds a single series (or cannot be decoded) and was left as is
   */
  private splitInPlace(run: BatchRun, part: Part, code: string, budgeted: boolean): boolean {
    if (budgeted && run.splitSendsLeft < 2) return false;
    let halves: [Part, Part] | undefined;
    try {
      halves = this.halves(run.batch, part);
    } catch (err) {
      // Only a queued payload that does not decode gets here: a bug upstream. Keep it whole.
      this.logger.error({ err, samples: part.samples }, 'BUG: could not decode a queued payload to split it; treating it as one series');
      part.unsplittable = true;
      return false;
    }
    if (halves === undefined) return false;
    run.pending.splice(0, 1, ...halves);
    if (budgeted) run.splitSendsLeft -= 2;
    this.counter(this.splitsByCode, this.metrics.forwardSplits, code).inc();
    return true;
  }

  /** The two halves of a part: at item boundaries when it has several items, else at series boundaries. */
  private halves(batch: ForwardBatch, part: Part): [Part, Part] | undefined {
    if (part.lastItem > part.firstItem) {
      const middle = part.firstItem + Math.floor((part.lastItem - part.firstItem + 1) / 2);
      return [this.itemsPart(batch, part.firstItem, middle - 1), this.itemsPart(batch, middle, part.lastItem)];
    }
    if (part.unsplittable) return undefined;
    const split = splitWriteRequest(part.body);
    if (split === undefined) {
      part.unsplittable = true;
      return undefined;
    }
    const seriesPart = (half: (typeof split)[number]): Part => ({
      body: half.body,
      firstItem: part.firstItem,
      lastItem: part.firstItem,
      samples: half.samples,
      decodedBytes: half.decodedBytes,
      refOkSerial: this.okSerial,
      streak: 0,
      swapTried: false,
      unsplittable: half.series < 2,
    });
    return [seriesPart(split[0]), seriesPart(split[1])];
  }

  /** A part of the whole items [first, last] of `batch`. */
  private itemsPart(batch: ForwardBatch, first: number, last: number): Part {
    const items = batch.items.slice(first, last + 1);
    return {
      body: items.length === 1 ? (items[0] as QueueItem).payload : mergePayloads(items),
      firstItem: first,
      lastItem: last,
      samples: countSamples(items),
      decodedBytes: decodedBytesOf(items),
      refOkSerial: this.okSerial,
      streak: 0,
      swapTried: false,
      unsplittable: false,
    };
  }

  /** After a 413 to a part that could be split: send at most half its decoded size from now on. */
  private lowerSendLimit(part: Part, message: string): void {
    const limit = Math.max(1, Math.floor(part.decodedBytes / 2));
    if (limit >= this.sendLimitBytes) return;
    const previous = this.sendLimitBytes;
    this.sendLimitBytes = limit;
    this.logger.warn(
      { maxSendBytes: limit, previousMaxSendBytes: previous, refusedBytes: part.decodedBytes, message },
      `backend refused ${part.decodedBytes} bytes (decoded) with HTTP 413; sending at most ${limit} bytes per request from now on (larger batches are split before sending)`,
    );
  }

  /**
   * `part` (the head of `run`) is dropped for good: count it, log it (throttled), and settle it.
   * @param singleSeriesReason the reason to give instead when the part turns out to hold one series
   */
  private drop(
    state: ShardState,
    run: BatchRun,
    part: Part,
    reasonIfSeveral: DropReason,
    code: string,
    message: string,
    singleSeriesReason: DropReason = reasonIfSeveral,
  ): void {
    this.rejectedSamples.inc(part.samples);
    // One error line per kind and status every few seconds; the others go to debug, and the
    // payload is decoded (for the labels) only for a line that is written.
    const suppressed = this.dropLog.allow(`${reasonIfSeveral}:${code}`);
    if (suppressed >= 0 || this.logger.isLevelEnabled('debug')) {
      let reason = reasonIfSeveral;
      const fields: Record<string, unknown> = {
        shard: state.shard,
        status: Number(code),
        message,
        samples: part.samples,
        tenant: tenantOf(run.batch.items.slice(part.firstItem, part.lastItem + 1)),
      };
      let what = `${part.samples} samples`;
      try {
        const summary = summarizePayload(part.body);
        fields.series = summary.series;
        if (summary.series <= 1) reason = singleSeriesReason;
        if (summary.firstSeries !== undefined) {
          fields.labels = summary.firstSeries;
          what =
            summary.series === 1
              ? `series ${summary.firstSeries} (${part.samples} samples)`
              : `${summary.series} series (first ${summary.firstSeries}; ${part.samples} samples)`;
        }
      } catch {
        // Logged without labels (a payload that does not decode is a bug upstream; the backend judged it anyway).
      }
      fields.reason = reason;
      if (suppressed > 0) fields.suppressed = suppressed;
      const text = dropMessage(reason, code, what, message, this.maxSplitSendsPerBatch);
      if (suppressed >= 0) this.logger.error(fields, text);
      else this.logger.debug(fields, text);
    }
    run.pending.shift();
    this.settle(state, run);
  }

  private logSplit(state: ShardState, run: BatchRun, part: Part, code: string, message: string, text: string): void {
    const fields = {
      shard: state.shard,
      code,
      message,
      samples: part.samples,
      items: part.lastItem - part.firstItem + 1,
      splitSendsLeft: run.splitSendsLeft,
    };
    if (this.splitLog.allow(code) >= 0) this.logger.warn(fields, text);
    else this.logger.debug(fields, text);
  }

  /** The head of `run` was settled and removed: acknowledge every item no pending part still carries. */
  private settle(state: ShardState, run: BatchRun): void {
    let firstPending = run.batch.items.length;
    for (const part of run.pending) if (part.firstItem < firstPending) firstPending = part.firstItem;
    const through = firstPending - 1;
    if (through <= run.ackedThrough) return;
    this.queue.ack(this.backend.name, state.shard, (run.batch.items[through] as QueueItem).seq);
    run.ackedThrough = through;
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
 * The longest prefix of `items` that may go in one request: at most `maxDecodedBytes` decoded
 * (the first item always goes), and, when the tenant travels in a header, only items of the first
 * item's tenant.
 */
export function sendablePrefix(
  items: readonly QueueItem[],
  singleTenant: boolean,
  maxDecodedBytes: number = MAX_DECODED_BYTES_PER_SEND,
): readonly QueueItem[] {
  const first = items[0];
  if (first === undefined) return items;
  let end = 1;
  let decodedBytes = declaredSnappyLength(first.payload);
  while (end < items.length) {
    const next = items[end] as QueueItem;
    if (singleTenant && next.tenant !== first.tenant) break;
    decodedBytes += declaredSnappyLength(next.payload);
    if (decodedBytes > maxDecodedBytes) break;
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

function decodedBytesOf(items: readonly QueueItem[]): number {
  let bytes = 0;
  for (const item of items) bytes += Math.max(0, declaredSnappyLength(item.payload));
  return bytes;
}

/** The tenant of every item, or undefined when they differ. */
function tenantOf(items: readonly QueueItem[]): string | undefined {
  const tenant = items[0]?.tenant;
  return items.every((item) => item.tenant === tenant) ? tenant : undefined;
}

/** The error line for data dropped for good; `what` names the series (or their number) and samples. */
function dropMessage(reason: DropReason, code: string, what: string, message: string, budget: number): string {
  switch (reason) {
    case 'rejected':
      return `backend rejected ${what} with HTTP ${code} (not retryable); dropping it: ${message}`;
    case 'setup':
      return `backend refused ${what} with HTTP ${code}, which says its setup (credentials, URL, content type) is wrong, not the data; dropping it: ${message}`;
    case 'too_large':
      return `${what} alone is larger than the backend accepts (HTTP 413) and cannot be split further; dropping it: ${message}`;
    case 'poison':
      return `backend keeps failing ${what} with HTTP ${code} while other sends to it succeed (poison data, not an outage); dropping it: ${message}`;
    case 'split_budget':
      return `backend keeps refusing parts of one batch (HTTP ${code}); the batch used its ${budget} extra sends for splitting, so ${what} is dropped without isolating the series at fault: ${message}`;
  }
}
