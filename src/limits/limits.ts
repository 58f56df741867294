/**
 * A tenant's effective limits: the config's `limits` defaults, overridden field by field by the
 * tenant's own `tenants.<name>.limits`. 0 means no limit.
 */
export interface TenantLimits {
  /** Samples per second: float samples, native histogram samples, exemplars and metadata entries. */
  readonly ingestion_rate: number;
  readonly ingestion_burst_size: number;
  /** Remote-write requests per second. */
  readonly request_rate: number;
  readonly request_burst_size: number;
  /** The status of a rate-limited request: 503 (always retried) or 429 (retried only with retry_on_http_429). */
  readonly rate_limit_status: 429 | 503;
  /** Samples (floats and native histograms) in one request. */
  readonly max_samples_per_request: number;
  readonly max_series_per_request: number;
  readonly max_exemplars_per_request: number;
  readonly max_metadata_per_request: number;
  /** Per series: labels (counting __name__), name and value length in bytes. */
  readonly max_label_names_per_series: number;
  readonly max_label_name_length: number;
  readonly max_label_value_length: number;
  /** Series with a sample within active_series_window (ms): per tenant, and per cluster of the tenant. */
  readonly max_active_series: number;
  readonly max_active_series_per_cluster: number;
  readonly active_series_window: number;
  /** Body caps in bytes, compressed and decompressed (0: the server's `max_body_bytes` / `max_decoded_bytes` only). */
  readonly max_body_bytes: number;
  readonly max_decoded_bytes: number;
  /** ms a sample may be ahead of tributary's clock; older than `max_sample_age` ms is refused (0: any age). */
  readonly future_grace: number;
  readonly max_sample_age: number;
}

/** No limit at all: what a config without `limits` gives. */
export const NO_LIMITS: TenantLimits = {
  ingestion_rate: 0,
  ingestion_burst_size: 0,
  request_rate: 0,
  request_burst_size: 0,
  rate_limit_status: 503,
  max_samples_per_request: 0,
  max_series_per_request: 0,
  max_exemplars_per_request: 0,
  max_metadata_per_request: 0,
  max_label_names_per_series: 0,
  max_label_name_length: 0,
  max_label_value_length: 0,
  max_active_series: 0,
  max_active_series_per_cluster: 0,
  active_series_window: 20 * 60_000,
  max_body_bytes: 0,
  max_decoded_bytes: 0,
  future_grace: 10 * 60_000,
  max_sample_age: 0,
};

/**
 * The limits one of `replicas` tributary replicas enforces: rates divided among them, as Mimir's
 * global strategy does; bursts and per-request caps unchanged, so each replica still takes the
 * largest allowed request.
 */
export function perReplica(limits: TenantLimits, replicas: number): TenantLimits {
  if (replicas <= 1) return limits;
  return { ...limits, ingestion_rate: limits.ingestion_rate / replicas, request_rate: limits.request_rate / replicas };
}

export type TenantLimitOverrides = { readonly [K in keyof TenantLimits]?: TenantLimits[K] | undefined };

export function mergeLimits(defaults: TenantLimits, own: TenantLimitOverrides | undefined): TenantLimits {
  if (own === undefined) return defaults;
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(own)) if (value !== undefined) merged[key] = value;
  return merged as unknown as TenantLimits;
}

/** A problem with a set of effective limits: the field and why. */
export interface LimitProblem {
  readonly field: keyof TenantLimits;
  readonly message: string;
}

/** Limits that cannot work together: a request could never pass, or a rate without a burst. */
export function checkLimits(l: TenantLimits): LimitProblem[] {
  const problems: LimitProblem[] = [];
  if (l.ingestion_rate > 0) {
    if (l.max_samples_per_request === 0) {
      problems.push({
        field: 'max_samples_per_request',
        message: 'must be set when ingestion_rate is: a request larger than ingestion_burst_size could never pass (Prometheus sends up to its max_samples_per_send, 2000 by default)',
      });
    } else if (l.ingestion_burst_size < l.max_samples_per_request) {
      problems.push({
        field: 'ingestion_burst_size',
        message: `must be at least max_samples_per_request (${l.max_samples_per_request}): a request of that size could never pass (got ${l.ingestion_burst_size})`,
      });
    }
  }
  if (l.request_rate > 0 && l.request_burst_size < 1) {
    problems.push({ field: 'request_burst_size', message: 'must be at least 1 when request_rate is set' });
  }
  return problems;
}
