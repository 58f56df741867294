/**
 * Usage accounting on the request path: counts accumulate in memory per (tenant, cluster, hour)
 * and reach the state database in one transaction per `flush()` (the server calls it every
 * `usage.flush_interval` and at shutdown).
 *
 * `record` runs for every request, so it is synchronous and allocates only the first time a
 * (tenant, cluster, hour) appears: nested Maps (no key string built per call) lead to the entries
 * of one (tenant, cluster), and a flush resets the entry of the current hour in place instead of
 * dropping it.
 */
import type { UsageRepo } from '../state/usage-repo.js';
import type { UsageDelta, UsageFilter, UsageRow } from './types.js';

const HOUR_MS = 3_600_000;

/** How often, at most, a flush also deletes rows older than the retention. */
const PRUNE_INTERVAL_MS = HOUR_MS;

export interface UsageRecorderOptions {
  /** Where flushes go. */
  readonly repo: UsageRepo;
  /** Rows of hours that ended longer ago than this are deleted (config `usage.retention`). */
  readonly retentionMs: number;
  /** The clock for pruning and for deciding which pending hours are over; default `Date.now`. */
  readonly now?: () => number;
}

/** Counts of one (tenant, cluster, hour) not yet written. Mutated in place. */
interface Pending {
  readonly hourStartMs: number;
  acceptedSamples: number;
  rejectedSamples: number;
  acceptedSeries: number;
  rejectedSeries: number;
  requests: number;
  rejectedRequests: number;
  activeSeries: number | undefined;
}

/**
 * tenant → cluster → the pending entries of that pair, one per hour. Almost always one entry; two
 * around an hour boundary (a flush can straddle it, and callers' clocks may disagree by a little).
 */
type PendingByTenant = Map<string, Map<string, Pending[]>>;

export class UsageRecorder {
  readonly #repo: UsageRepo;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #pending: PendingByTenant = new Map();
  #lastPruneMs: number | undefined;

  constructor(options: UsageRecorderOptions) {
    this.#repo = options.repo;
    this.#retentionMs = options.retentionMs;
    this.#now = options.now ?? Date.now;
  }

  /** Add one request's counts to (tenant, cluster, the hour of `nowMs`). */
  record(tenant: string, cluster: string, delta: UsageDelta, nowMs: number): void {
    const p = this.#entry(tenant, cluster, nowMs);
    p.acceptedSamples += delta.acceptedSamples;
    p.rejectedSamples += delta.rejectedSamples;
    p.acceptedSeries += delta.acceptedSeries;
    p.rejectedSeries += delta.rejectedSeries;
    p.requests += delta.requests;
    p.rejectedRequests += delta.rejectedRequests;
  }

  /** Remember the number of active series of (tenant, cluster) at `nowMs`; the hour keeps its maximum. */
  noteActiveSeries(tenant: string, cluster: string, count: number, nowMs: number): void {
    const p = this.#entry(tenant, cluster, nowMs);
    if (p.activeSeries === undefined || count > p.activeSeries) p.activeSeries = count;
  }

  /**
   * Write every pending count in one transaction and clear it; returns the rows written. When the
   * write fails the counts stay pending (the next flush retries them) and the error is rethrown.
   * At most once an hour, also deletes the rows older than the retention (a failing prune throws
   * too, after the counts were written, and is retried at the next flush).
   */
  flush(): number {
    const rows = this.#pendingRows();
    const nowMs = this.#now();
    // Nothing has been cleared yet: if add throws (its transaction rolled back), every count is
    // still pending, exactly as before this call. Nothing can record in between: all of this is
    // synchronous.
    this.#repo.add(rows);
    this.#clear(nowMs);
    this.#maybePrune(this.#repo, nowMs);
    return rows.length;
  }

  /**
   * Usage rows matching `filter`, including everything recorded so far: flushes first, so the
   * totals are exact (and throws what that flush throws).
   */
  query(filter: UsageFilter): UsageRow[] {
    this.flush();
    return this.#repo.query(filter);
  }

  /** The entry of (tenant, cluster, hour of nowMs), created the first time it is asked for. */
  #entry(tenant: string, cluster: string, nowMs: number): Pending {
    const hourStartMs = hourStart(nowMs);
    let clusters = this.#pending.get(tenant);
    if (clusters === undefined) {
      clusters = new Map();
      this.#pending.set(tenant, clusters);
    }
    let entries = clusters.get(cluster);
    if (entries === undefined) {
      entries = [];
      clusters.set(cluster, entries);
    }
    // Newest last: the usual hit is the last entry.
    for (let i = entries.length - 1; i >= 0; i--) {
      const p = entries[i] as Pending;
      if (p.hourStartMs === hourStartMs) return p;
    }
    const created = emptyPending(hourStartMs);
    entries.push(created);
    return created;
  }

  /** A row for every entry that holds something (zeroed entries kept for reuse do not). */
  #pendingRows(): UsageRow[] {
    const rows: UsageRow[] = [];
    for (const [tenant, clusters] of this.#pending) {
      for (const [cluster, entries] of clusters) {
        for (const p of entries) if (!isEmpty(p)) rows.push({ tenant, cluster, ...p });
      }
    }
    return rows;
  }

  /**
   * After a successful write: zero the entries of the current hour (or later: a caller's clock
   * may run ahead) for reuse by `record`, and drop those of past hours, which will not be recorded
   * into again, together with tenants and clusters left without entries.
   */
  #clear(nowMs: number): void {
    const currentHour = hourStart(nowMs);
    for (const [tenant, clusters] of this.#pending) {
      for (const [cluster, entries] of clusters) {
        const kept = entries.filter((p) => p.hourStartMs >= currentHour);
        for (const p of kept) reset(p);
        if (kept.length === 0) clusters.delete(cluster);
        else clusters.set(cluster, kept);
      }
      if (clusters.size === 0) this.#pending.delete(tenant);
    }
  }

  #maybePrune(repo: UsageRepo, nowMs: number): void {
    if (this.#lastPruneMs !== undefined && nowMs - this.#lastPruneMs < PRUNE_INTERVAL_MS) return;
    repo.pruneBefore(nowMs - this.#retentionMs);
    // Only after it worked, so a failed prune is retried at the next flush.
    this.#lastPruneMs = nowMs;
  }
}

function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

function emptyPending(hourStartMs: number): Pending {
  return {
    hourStartMs,
    acceptedSamples: 0,
    rejectedSamples: 0,
    acceptedSeries: 0,
    rejectedSeries: 0,
    requests: 0,
    rejectedRequests: 0,
    activeSeries: undefined,
  };
}

function reset(p: Pending): void {
  p.acceptedSamples = 0;
  p.rejectedSamples = 0;
  p.acceptedSeries = 0;
  p.rejectedSeries = 0;
  p.requests = 0;
  p.rejectedRequests = 0;
  p.activeSeries = undefined;
}

function isEmpty(p: Pending): boolean {
  return (
    p.acceptedSamples === 0 &&
    p.rejectedSamples === 0 &&
    p.acceptedSeries === 0 &&
    p.rejectedSeries === 0 &&
    p.requests === 0 &&
    p.rejectedRequests === 0 &&
    p.activeSeries === undefined
  );
}
