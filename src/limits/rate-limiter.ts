/**
 * Per-tenant rate limits: a request bucket and an ingestion (samples) bucket per tenant. The
 * buckets outlive config reloads (a reload changes their rate and burst, not what was spent), so
 * a tenant cannot get a fresh burst by waiting for a reload.
 *
 * Two checks per request, as the design's admit and enforce stages:
 * - `admit`, before the body is read: one request token, and as many sample tokens as the tenant's
 *   last request needed (edges send batches of about the same size). A tenant over its rate is
 *   refused before its body is decoded, so flooding costs it an HTTP exchange, not a decode.
 * - `takeSamples`, after decoding: all the request's samples at once, or none (the whole request
 *   is refused, as Mimir does: partial acceptance would make the sender's retry resend the rest).
 */
import { RateLimitedError, RequestLimitError } from '../errors.js';
import type { TenantLimits } from './limits.js';
import { TokenBucket } from './token-bucket.js';

interface TenantBuckets {
  requests: TokenBucket | undefined;
  samples: TokenBucket | undefined;
  /** What the tenant's last request would have added: the likely cost of its next one. */
  lastSamples: number;
}

/** What one request holds, as the pipeline counted it. */
export interface RequestCounts {
  readonly series: number;
  /** Float samples and native histogram samples. */
  readonly samples: number;
  readonly exemplars: number;
  readonly metadata: number;
}

const REQUEST_CAPS = [
  ['samples', 'max_samples_per_request', 'too_many_samples', "lower the edge's queue_config.max_samples_per_send"],
  ['series', 'max_series_per_request', 'too_many_series', "lower the edge's queue_config.max_samples_per_send"],
  ['exemplars', 'max_exemplars_per_request', 'too_many_exemplars', "lower the edge's queue_config.max_samples_per_send (exemplars go with their series)"],
  ['metadata', 'max_metadata_per_request', 'too_many_metadata', "lower the edge's metadata_config.max_samples_per_send"],
] as const;

/** A request over a per-request cap could never pass as it is: 400, naming the cap and its value. */
function checkRequestCaps(tenant: string, limits: TenantLimits, request: RequestCounts): void {
  for (const [count, cap, reason, hint] of REQUEST_CAPS) {
    const max = limits[cap];
    const n = request[count];
    if (max > 0 && n > max) {
      throw new RequestLimitError(reason, `the request has ${n} ${count === 'metadata' ? 'metadata entries' : count}, more than tenant ${tenant}'s ${cap} (${max}); ${hint}`);
    }
  }
}

function retryAfterSeconds(waitMs: number): number {
  // A whole second at least: Retry-After has second resolution, and a 0 would mean "now".
  return Math.max(1, Math.ceil(waitMs / 1000));
}

export class RateLimiter {
  #limitsFor: (tenant: string) => TenantLimits;
  readonly #buckets = new Map<string, TenantBuckets>();

  constructor(limitsFor: (tenant: string) => TenantLimits) {
    this.#limitsFor = limitsFor;
  }

  /** New limits (config reload): buckets keep what they hold, up to their new burst. */
  configure(limitsFor: (tenant: string) => TenantLimits, nowMs: number): void {
    this.#limitsFor = limitsFor;
    for (const [tenant, buckets] of this.#buckets) this.#buckets.set(tenant, this.#rebuild(buckets, limitsFor(tenant), nowMs));
  }

  limitsFor(tenant: string): TenantLimits {
    return this.#limitsFor(tenant);
  }

  /** Before the body is read: throws RateLimitedError when the tenant is over a rate now. */
  admit(tenant: string, nowMs: number): void {
    const limits = this.#limitsFor(tenant);
    const buckets = this.#bucketsOf(tenant, limits, nowMs);
    if (buckets.samples !== undefined) {
      const expected = Math.min(Math.max(1, buckets.lastSamples), buckets.samples.burst);
      if (buckets.samples.available(nowMs) < expected) {
        throw this.#samplesRefusal(tenant, limits, buckets.samples.waitMs(expected, nowMs), `has not enough of its ingestion rate left for a request like its last one (${expected} samples)`);
      }
    }
    if (buckets.requests !== undefined && !buckets.requests.tryTake(1, nowMs)) {
      const wait = buckets.requests.waitMs(1, nowMs);
      throw new RateLimitedError(
        'request_rate_limited',
        limits.rate_limit_status,
        `tenant ${tenant} is over its request rate (${limits.request_rate} requests/s, burst ${limits.request_burst_size}); retry in ${retryAfterSeconds(wait)}s`,
        retryAfterSeconds(wait),
      );
    }
  }

  /**
   * After decoding: the request's counts against the per-request caps, then what it would add
   * against the ingestion rate: `cost`, its accepted float samples, native histogram samples,
   * exemplars and metadata (series refused for other reasons cost nothing).
   */
  takeSamples(tenant: string, request: RequestCounts, nowMs: number, cost = request.samples + request.exemplars + request.metadata): void {
    const limits = this.#limitsFor(tenant);
    checkRequestCaps(tenant, limits, request);
    const samples = cost;
    const buckets = this.#bucketsOf(tenant, limits, nowMs);
    buckets.lastSamples = samples;
    const bucket = buckets.samples;
    if (bucket === undefined || samples === 0 || bucket.tryTake(samples, nowMs)) return;
    throw this.#samplesRefusal(tenant, limits, bucket.waitMs(samples, nowMs), `is over its ingestion rate with this request of ${samples} samples`);
  }

  #samplesRefusal(tenant: string, limits: TenantLimits, waitMs: number, what: string): RateLimitedError {
    const after = retryAfterSeconds(waitMs);
    return new RateLimitedError(
      'rate_limited',
      limits.rate_limit_status,
      `tenant ${tenant} ${what} (${limits.ingestion_rate} samples/s, burst ${limits.ingestion_burst_size}); retry in ${after}s`,
      after,
    );
  }

  #bucketsOf(tenant: string, limits: TenantLimits, nowMs: number): TenantBuckets {
    let buckets = this.#buckets.get(tenant);
    if (buckets === undefined) {
      buckets = this.#rebuild({ requests: undefined, samples: undefined, lastSamples: 0 }, limits, nowMs);
      this.#buckets.set(tenant, buckets);
    }
    return buckets;
  }

  #rebuild(old: TenantBuckets, limits: TenantLimits, nowMs: number): TenantBuckets {
    return {
      requests: resize(old.requests, limits.request_rate, limits.request_burst_size, nowMs),
      samples: resize(old.samples, limits.ingestion_rate, limits.ingestion_burst_size, nowMs),
      lastSamples: old.lastSamples,
    };
  }
}

/** The bucket for `rate`/`burst`: none when the rate is 0 (no limit), the old one reconfigured if any. */
function resize(bucket: TokenBucket | undefined, rate: number, burst: number, nowMs: number): TokenBucket | undefined {
  if (rate <= 0) return undefined;
  if (bucket === undefined) return new TokenBucket(rate, burst, nowMs);
  bucket.reconfigure(rate, burst, nowMs);
  return bucket;
}
