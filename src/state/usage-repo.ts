/**
 * The `usage` table (migration 4): one row per (tenant, cluster, hour) with that hour's totals.
 * Flushes add to a row (upsert), so several flushes per hour, or several processes, sum up.
 *
 * The table keys hours in seconds since the epoch (start of the UTC hour); the rest of tributary
 * speaks milliseconds (`UsageRow.hourStartMs`). The conversion happens here and only here.
 * Statements are prepared once per repository; every method is synchronous.
 */
import type { UsageFilter, UsageRow } from '../usage/types.js';
import type { Database } from './db.js';

const HOUR_MS = 3_600_000;
const HOUR_S = 3600;

/** The table's columns, in the order of `UsageDbRow`. */
const COLUMNS = 'tenant, cluster, hour, accepted_samples, rejected_samples, accepted_series, rejected_series, requests, rejected_requests, active_series';

interface UsageDbRow {
  tenant: string;
  cluster: string;
  /** Start of the hour, seconds since the epoch. */
  hour: number;
  accepted_samples: number;
  rejected_samples: number;
  accepted_series: number;
  rejected_series: number;
  requests: number;
  rejected_requests: number;
  active_series: number | null;
}

/** Bounds of a hour-range query, in the table's unit (seconds), both exclusive. */
interface HourRange {
  /** Rows with hour > this. */
  after: number;
  /** Rows with hour < this. */
  before: number;
}

export class UsageRepo {
  readonly #db: Database;
  readonly #upsert;
  readonly #selectRange;
  readonly #selectTenantRange;
  readonly #deleteUpTo;

  constructor(db: Database) {
    this.#db = db;
    // Counters add up. active_series keeps the larger of the stored and the new value, where NULL
    // means "not tracked" and must never hide a known value: the two COALESCEs make MAX see the
    // known value twice when the other one is NULL (and NULL only when both are).
    this.#upsert = db.prepare<[UsageDbRow]>(
      `INSERT INTO usage (${COLUMNS})
       VALUES (@tenant, @cluster, @hour, @accepted_samples, @rejected_samples, @accepted_series, @rejected_series, @requests, @rejected_requests, @active_series)
       ON CONFLICT (tenant, cluster, hour) DO UPDATE SET
         accepted_samples  = accepted_samples  + excluded.accepted_samples,
         rejected_samples  = rejected_samples  + excluded.rejected_samples,
         accepted_series   = accepted_series   + excluded.accepted_series,
         rejected_series   = rejected_series   + excluded.rejected_series,
         requests          = requests          + excluded.requests,
         rejected_requests = rejected_requests + excluded.rejected_requests,
         active_series     = MAX(COALESCE(active_series, excluded.active_series), COALESCE(excluded.active_series, active_series))`,
    );
    // Two statements rather than one with "(@tenant IS NULL OR tenant = @tenant)": that form keeps
    // SQLite from using the primary key (tenant first) for a one-tenant query.
    this.#selectRange = db.prepare<[HourRange], UsageDbRow>(
      `SELECT ${COLUMNS} FROM usage WHERE hour > @after AND hour < @before ORDER BY hour, tenant, cluster`,
    );
    this.#selectTenantRange = db.prepare<[HourRange & { tenant: string }], UsageDbRow>(
      `SELECT ${COLUMNS} FROM usage WHERE tenant = @tenant AND hour > @after AND hour < @before ORDER BY hour, tenant, cluster`,
    );
    // A range on hour alone: served by the usage_hour index.
    this.#deleteUpTo = db.prepare<[number]>('DELETE FROM usage WHERE hour <= ?');
  }

  /**
   * Add each row's counters to the stored totals of its (tenant, cluster, hour), all in one
   * transaction. `hourStartMs` is taken as the hour that contains it.
   */
  add(rows: readonly UsageRow[]): void {
    if (rows.length === 0) return;
    this.#db.transaction(() => {
      for (const row of rows) this.#upsert.run(toDbRow(row));
    })();
  }

  /**
   * Rows of the hours that overlap [sinceMs, untilMs): the hour ends after `sinceMs` and starts
   * before `untilMs`. Ordered by hour, tenant, cluster.
   */
  query(filter: UsageFilter): UsageRow[] {
    const range: HourRange = {
      // hour*1000 + HOUR_MS > sinceMs  ⟺  hour > (sinceMs - HOUR_MS) / 1000 (a fraction compares exactly).
      after: filter.sinceMs === undefined ? Number.MIN_SAFE_INTEGER : (filter.sinceMs - HOUR_MS) / 1000,
      // hour*1000 < untilMs  ⟺  hour < untilMs / 1000.
      before: filter.untilMs === undefined ? Number.MAX_SAFE_INTEGER : filter.untilMs / 1000,
    };
    const rows = filter.tenant === undefined ? this.#selectRange.all(range) : this.#selectTenantRange.all({ ...range, tenant: filter.tenant });
    return rows.map(toUsageRow);
  }

  /**
   * Delete the rows of hours that ended at or before `cutoffMs` (every sample of such an hour is
   * older than the cutoff). Returns how many rows were deleted. Afterwards `query({ sinceMs:
   * cutoffMs })` returns exactly what it returned before.
   */
  pruneBefore(cutoffMs: number): number {
    return this.#deleteUpTo.run((cutoffMs - HOUR_MS) / 1000).changes;
  }
}

function toDbRow(row: UsageRow): UsageDbRow {
  return {
    tenant: row.tenant,
    cluster: row.cluster,
    hour: Math.floor(row.hourStartMs / HOUR_MS) * HOUR_S,
    accepted_samples: row.acceptedSamples,
    rejected_samples: row.rejectedSamples,
    accepted_series: row.acceptedSeries,
    rejected_series: row.rejectedSeries,
    requests: row.requests,
    rejected_requests: row.rejectedRequests,
    active_series: row.activeSeries ?? null,
  };
}

function toUsageRow(row: UsageDbRow): UsageRow {
  return {
    tenant: row.tenant,
    cluster: row.cluster,
    hourStartMs: row.hour * 1000,
    acceptedSamples: row.accepted_samples,
    rejectedSamples: row.rejected_samples,
    acceptedSeries: row.accepted_series,
    rejectedSeries: row.rejected_series,
    requests: row.requests,
    rejectedRequests: row.rejected_requests,
    activeSeries: row.active_series ?? undefined,
  };
}
