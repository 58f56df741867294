/**
 * The error model: one class per kind of failure, each carrying an HTTP status, a stable `reason`
 * (used as a metric label, never changed once released) and a human message whose useful part
 * comes first (Prometheus logs only the first 1 KiB of a response body).
 *
 * Routes never build status codes themselves: they throw or return one of these.
 */

/** Why a request (or some of its series) was refused. Closed list: bounds every `reason` label. */
export const REASONS = [
  // 400: the payload itself is broken
  'bad_snappy',
  'bad_protobuf',
  'decoded_too_large',
  // 400: some series were rejected (partial rejection; the valid ones were accepted)
  'invalid_label_name',
  'duplicate_label',
  'empty_label_name',
  'missing_metric_name',
  'invalid_utf8',
  'empty_labelset',
  'too_far_in_future',
  'too_old',
  'cluster_mismatch',
  'cluster_missing',
  'max_label_names_per_series',
  'label_name_too_long',
  'label_value_too_long',
  'max_active_series',
  'max_active_series_per_cluster',
  // 401 / 403
  'missing_token',
  'unknown_token',
  'token_revoked',
  'tenant_disabled',
  // 400: the request is over one of the tenant's per-request limits
  'too_many_samples',
  'too_many_series',
  'too_many_exemplars',
  'too_many_metadata',
  // 429 or 503 (the tenant's rate_limit_status): over the tenant's rate
  'rate_limited',
  'request_rate_limited',
  // 405 / 413 / 415
  'method_not_allowed',
  'body_too_large',
  'unsupported_content_type',
  'unsupported_encoding',
  // 503
  'queue_full',
  'not_durable',
  'shutting_down',
  // 500
  'internal',
] as const;

export type Reason = (typeof REASONS)[number];

/** Reasons a series can be refused while the rest of its request is accepted. */
export type SeriesRejectReason = Extract<
  Reason,
  | 'invalid_label_name'
  | 'duplicate_label'
  | 'empty_label_name'
  | 'missing_metric_name'
  | 'invalid_utf8'
  | 'empty_labelset'
  | 'too_far_in_future'
  | 'too_old'
  | 'cluster_mismatch'
  | 'cluster_missing'
  | 'max_label_names_per_series'
  | 'label_name_too_long'
  | 'label_value_too_long'
  | 'max_active_series'
  | 'max_active_series_per_cluster'
>;

/** Why data was dropped on purpose without refusing the request (counted, never an error). */
export type DropReason =
  /** For one backend: it does not accept native histograms. */
  | 'native_histograms_unsupported'
  /** Older than a sample of the same series already accepted: the backend would refuse the whole batch. */
  | 'out_of_order'
  /** Same series and timestamp as a sample already accepted (a resend): forwarded once. */
  | 'duplicate_sample'
  /** Queued longer than the backend's max_queue_age. */
  | 'queue_max_age';

export abstract class TributaryError extends Error {
  abstract readonly status: number;
  readonly reason: Reason;
  /** Seconds the sender should wait before retrying; sent as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(reason: Reason, message: string, retryAfterSeconds?: number) {
    super(message);
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** The response body: message first, then the stable reason so logs can be grepped. */
  body(): string {
    return `${this.message} (tributary: ${this.reason})`;
  }
}

/** 400: the body is not a valid snappy-compressed WriteRequest. */
export class BadPayloadError extends TributaryError {
  readonly status = 400;
  declare readonly reason: 'bad_snappy' | 'bad_protobuf' | 'decoded_too_large';
  constructor(reason: 'bad_snappy' | 'bad_protobuf' | 'decoded_too_large', message: string) {
    super(reason, message);
  }
}

/** 400 after partial acceptance: the valid series were queued, these were not. */
export class RejectedSeriesError extends TributaryError {
  readonly status = 400;
  constructor(reason: SeriesRejectReason, message: string) {
    super(reason, message);
  }
}

/** 401: no credentials, or credentials tributary does not know. */
export class UnauthenticatedError extends TributaryError {
  readonly status = 401;
  constructor(reason: 'missing_token' | 'unknown_token', message: string) {
    super(reason, message);
  }
}

/** 403: the token is known but may no longer write (revoked, or its tenant disabled by an operator). */
export class ForbiddenError extends TributaryError {
  readonly status = 403;
  constructor(reason: 'token_revoked' | 'tenant_disabled', message: string) {
    super(reason, message);
  }
}

export class MethodNotAllowedError extends TributaryError {
  readonly status = 405;
  constructor(message: string) {
    super('method_not_allowed', message);
  }
}

/** 413: the compressed body is over `server.max_body_bytes`. */
export class PayloadTooLargeError extends TributaryError {
  readonly status = 413;
  constructor(message: string) {
    super('body_too_large', message);
  }
}

/** 415: a Content-Type or Content-Encoding tributary does not speak. */
export class UnsupportedMediaTypeError extends TributaryError {
  readonly status = 415;
  constructor(reason: 'unsupported_content_type' | 'unsupported_encoding', message: string) {
    super(reason, message);
  }
}

/**
 * 503 + Retry-After: tributary cannot take the data now, the sender keeps it and retries.
 * Never 429 here: a default Prometheus drops a batch answered with 429 (retry_on_http_429 is off).
 */
export class BackpressureError extends TributaryError {
  readonly status = 503;
  constructor(reason: 'queue_full' | 'not_durable' | 'shutting_down', message: string, retryAfterSeconds: number) {
    super(reason, message, retryAfterSeconds);
  }
}

/** 400: the whole request is over one of the tenant's per-request limits (it could never pass as is). */
export class RequestLimitError extends TributaryError {
  readonly status = 400;
  constructor(reason: 'too_many_samples' | 'too_many_series' | 'too_many_exemplars' | 'too_many_metadata', message: string) {
    super(reason, message);
  }
}

/**
 * Over the tenant's ingestion or request rate: the whole request is refused, with Retry-After.
 * The status is the tenant's `rate_limit_status`: 503 (every sender retries) or 429 (a default
 * Prometheus drops the batch unless the edge sets retry_on_http_429: true).
 */
export class RateLimitedError extends TributaryError {
  readonly status: 429 | 503;
  constructor(reason: 'rate_limited' | 'request_rate_limited', status: 429 | 503, message: string, retryAfterSeconds: number) {
    super(reason, message, retryAfterSeconds);
    this.status = status;
  }
}

/** 500: a bug. The sender retries; the log line carries the request id. */
export class InternalError extends TributaryError {
  readonly status = 500;
  constructor(message: string) {
    super('internal', message);
  }
}

/** A config file that cannot be used. Every entry names its field path. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`${source}: invalid config:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}
