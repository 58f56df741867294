/**
 * The order in which the load generator sends the prepared requests, and their fresh timestamps.
 *
 * Sends are numbered 0, 1, 2, ... and send q is request q mod n of cycle floor(q / n), round robin
 * as before. Two rules make the run look like real edges to a receiver that drops samples not newer
 * than the last one it accepted per series:
 *
 * - Fresh timestamps: before a send, the request's timestamps are patched in place (tspatch.ts) to
 *   its cycle's values: scrape k of cycle c has timestamp base(c) + k * intervalMs, where
 *   base(c) = max(base(c-1) + scrapes * intervalMs, now - lagMs), decided when the cycle's first
 *   send is numbered. So every series' timestamps strictly increase from send to send, and follow
 *   the clock (lagMs behind it) unless the bench sends faster than that step allows (then they run
 *   ahead of it by less than scrapes * intervalMs per cycle; `aheadMs` records how far).
 * - Per-series order: a send waits until every earlier send of a request sharing a series with it
 *   (itself included: the body is about to be rewritten) has been answered. Otherwise two requests
 *   carrying the same series could be in flight at once, reach the receiver in either order, and
 *   the older samples would be dropped. With G requests per scrape, at most G requests can be in
 *   flight (`maxParallel`), whatever the concurrency.
 *
 * Waiting is on promises only: numbering, the dependency look-up and the patch are synchronous, so
 * the order of sends sharing a series is the order of their numbers.
 */
import type { PreparedRequest, PreparedSet } from './requests.js';
import { patchTimestamps } from './tspatch.js';

export interface ScheduleOptions {
  /** Patch fresh timestamps (every request needs a patch plan). Without: plain round robin, still ordered per series. */
  readonly fresh: boolean;
  /** How far behind the clock a cycle's first scrape is stamped (default 1000 ms). */
  readonly lagMs?: number;
  /** The clock (ms), for tests. */
  readonly now?: () => number;
}

/** One numbered send: send `request`, then call `release` once it has been answered (or failed). */
export interface Slot {
  readonly request: PreparedRequest;
  readonly index: number;
  readonly cycle: number;
  /** Milliseconds added to the request's encoded timestamps for this send (0 without fresh timestamps). */
  readonly deltaMs: number;
  release(): void;
}

interface Pending {
  readonly seq: number;
  readonly done: Promise<void>;
}

export class SendSchedule {
  readonly requests: readonly PreparedRequest[];
  /** For each request, the requests sharing at least one series with it (itself included). */
  readonly conflicts: readonly (readonly number[])[];
  /** The most requests that can be in flight at once under the per-series order. */
  readonly maxParallel: number;
  /** Sends that had to wait for an earlier one, and how long they waited in all. */
  gatedSends = 0;
  gateWaitMs = 0;
  /** Most that a cycle's newest timestamp was ahead of the clock when the cycle began (ms; negative: behind). */
  aheadMs = Number.NEGATIVE_INFINITY;
  /** Timestamp bytes written so far. */
  patchedBytes = 0;

  readonly #fresh: boolean;
  readonly #lagMs: number;
  readonly #now: () => number;
  readonly #firstTimestampMs: number;
  readonly #cycleStepMs: number;
  readonly #lastScrapeOffsetMs: number;
  readonly #pending: (Pending | undefined)[];
  readonly #applied: Float64Array;
  readonly #scratch = new Uint8Array(64);
  #next = 0;
  #cycle = -1;
  #cycleDelta = 0;

  constructor(set: PreparedSet, options: ScheduleOptions) {
    const n = set.requests.length;
    if (n === 0) throw new Error('no requests to send');
    this.requests = set.requests;
    this.#fresh = options.fresh;
    this.#lagMs = options.lagMs ?? 1000;
    this.#now = options.now ?? Date.now;
    this.#firstTimestampMs = set.firstTimestampMs;
    this.#cycleStepMs = set.scrapes * set.intervalMs;
    this.#lastScrapeOffsetMs = (set.scrapes - 1) * set.intervalMs;
    if (this.#fresh) {
      const missing = set.requests.findIndex((r) => r.patch === undefined);
      if (missing >= 0) throw new Error(`request ${missing} has no timestamp patch plan (prepare with freshTimestamps)`);
    }
    const conflicts: number[][] = [];
    for (let i = 0; i < n; i++) {
      const a = set.requests[i] as PreparedRequest;
      const list: number[] = [];
      for (let j = 0; j < n; j++) {
        const b = set.requests[j] as PreparedRequest;
        if (a.seriesFrom < b.seriesTo && b.seriesFrom < a.seriesTo) list.push(j);
      }
      conflicts.push(list);
    }
    this.conflicts = conflicts;
    // The nearest later send that must wait for send i: request j at distance (j - i) mod n (n for i itself).
    let gap = n;
    for (let i = 0; i < n; i++) {
      for (const j of conflicts[i] as number[]) gap = Math.min(gap, (((j - i) % n) + n) % n || n);
    }
    this.maxParallel = gap;
    this.#pending = new Array<Pending | undefined>(n).fill(undefined);
    this.#applied = new Float64Array(n);
  }

  /** Sends numbered so far. */
  get sent(): number {
    return this.#next;
  }

  /**
   * Numbers the next send, waits for the earlier sends it must follow, patches its timestamps and
   * returns it. The caller must send it and then call `release`, whatever happens.
   */
  async acquire(): Promise<Slot> {
    const n = this.requests.length;
    const seq = this.#next++;
    const index = seq % n;
    const cycle = Math.floor(seq / n);
    if (cycle !== this.#cycle) this.#beginCycle(cycle);
    const deltaMs = this.#cycleDelta;
    const waits: Promise<void>[] = [];
    for (const j of this.conflicts[index] as number[]) {
      const p = this.#pending[j];
      if (p !== undefined) waits.push(p.done);
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#pending[index] = { seq, done };
    if (waits.length > 0) {
      this.gatedSends++;
      const t0 = performance.now();
      await Promise.all(waits);
      this.gateWaitMs += performance.now() - t0;
    }
    const pending = this.#pending;
    const slot: Slot = {
      request: this.requests[index] as PreparedRequest,
      index,
      cycle,
      deltaMs,
      release: () => {
        if (pending[index]?.seq === seq) pending[index] = undefined;
        release();
      },
    };
    if (this.#fresh && this.#applied[index] !== deltaMs) {
      try {
        const plan = slot.request.patch;
        if (plan === undefined) throw new Error(`request ${index} has no patch plan`);
        patchTimestamps(slot.request.body, plan, deltaMs, this.#scratch);
        this.#applied[index] = deltaMs;
        this.patchedBytes += plan.offsets.length;
      } catch (err) {
        slot.release();
        throw err;
      }
    }
    return slot;
  }

  #beginCycle(cycle: number): void {
    const now = this.#now();
    const floor = Math.floor(now - this.#lagMs) - this.#firstTimestampMs;
    const delta = this.#cycle < 0 ? floor : Math.max(this.#cycleDelta + this.#cycleStepMs, floor);
    this.#cycle = cycle;
    this.#cycleDelta = this.#fresh ? delta : 0;
    if (this.#fresh) this.aheadMs = Math.max(this.aheadMs, this.#firstTimestampMs + delta + this.#lastScrapeOffsetMs - now);
  }
}
