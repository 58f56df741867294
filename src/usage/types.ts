/**
 * Usage accounting's shapes, shared by the recorder (request path), the state repository, the
 * admin API and `tributary usage`.
 */

/** What one request adds to the usage of one (tenant, cluster). Every field may be 0. */
export interface UsageDelta {
  /** Float and native histogram samples accepted (queued for the backends). */
  readonly acceptedSamples: number;
  /** Samples refused: per series (partial 400) or with the whole request (after it was decoded). */
  readonly rejectedSamples: number;
  /** Series entries of requests: accepted (at least partly) or refused whole. */
  readonly acceptedSeries: number;
  readonly rejectedSeries: number;
  /** Requests authenticated for this tenant, and those refused whole (any reason, any status). */
  readonly requests: number;
  readonly rejectedRequests: number;
}

/** One stored row: a (tenant, cluster, hour) and its totals. */
export interface UsageRow extends UsageDelta {
  readonly tenant: string;
  /** '' when the data named no cluster the token may write (e.g. a refused multi-cluster request). */
  readonly cluster: string;
  /** Start of the hour, ms since the epoch (UTC). */
  readonly hourStartMs: number;
  /** Most active series seen in the hour (undefined: active series are not tracked for this tenant). */
  readonly activeSeries: number | undefined;
}

export interface UsageFilter {
  readonly tenant?: string | undefined;
  /** Rows of hours that end after this (ms since the epoch); all when undefined. */
  readonly sinceMs?: number | undefined;
  /** Rows of hours that start before this; all when undefined. */
  readonly untilMs?: number | undefined;
}
