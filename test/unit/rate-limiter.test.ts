/** Per-tenant rate limits: admission, sample takes, status, Retry-After, per-request size, reload. */
import { describe, expect, it } from 'vitest';
import { RateLimitedError, RequestLimitError } from '../../src/errors.js';
import { NO_LIMITS, type TenantLimits } from '../../src/limits/limits.js';
import { RateLimiter, type RequestCounts } from '../../src/limits/rate-limiter.js';

const limited: TenantLimits = {
  ...NO_LIMITS,
  ingestion_rate: 1000,
  ingestion_burst_size: 2000,
  max_samples_per_request: 2000,
  request_rate: 2,
  request_burst_size: 2,
};
const limitsFor = (tenant: string): TenantLimits => (tenant === 'small' ? limited : NO_LIMITS);

/** A request of `n` samples (one per series), no exemplars or metadata. */
function samples(n: number): RequestCounts {
  return { series: n, samples: n, exemplars: 0, metadata: 0 };
}

function refusal(fn: () => void): RateLimitedError | RequestLimitError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RateLimitedError || err instanceof RequestLimitError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('RateLimiter', () => {
  it('leaves a tenant without limits alone', () => {
    const limiter = new RateLimiter(limitsFor);
    for (let i = 0; i < 1000; i++) {
      limiter.admit('big', 0);
      limiter.takeSamples('big', samples(1_000_000), 0);
    }
  });

  it('refuses requests over the request rate with the tenant’s status and Retry-After', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.admit('small', 0);
    limiter.admit('small', 0);
    const err = refusal(() => limiter.admit('small', 0));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect([err.status, err.reason, err.retryAfterSeconds]).toEqual([503, 'request_rate_limited', 1]);
    expect(err.message).toContain('tenant small is over its request rate (2 requests/s, burst 2)');
    limiter.admit('small', 500);
  });

  it('takes all of a request’s samples or none, and says when to retry', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.takeSamples('small', samples(1500), 0);
    const err = refusal(() => limiter.takeSamples('small', samples(1000), 0));
    expect([err.status, err.reason, err.retryAfterSeconds]).toEqual([503, 'rate_limited', 1]);
    // Nothing was taken by the refused request: 500 are still there.
    limiter.takeSamples('small', samples(500), 0);
    const later = refusal(() => limiter.takeSamples('small', samples(2000), 0));
    expect(later.retryAfterSeconds).toBe(2);
  });

  it('refuses before the body is read once the samples are used up', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.admit('small', 0);
    limiter.takeSamples('small', samples(2000), 0);
    const err = refusal(() => limiter.admit('small', 0));
    expect(err.reason).toBe('rate_limited');
    expect(err.message).toContain('has not enough of its ingestion rate left for a request like its last one (2000 samples) (1000 samples/s, burst 2000)');
  });

  it('expects a request like the last one before reading the body, and lets a smaller one wait less', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.takeSamples('small', samples(1500), 0);
    // 500 left; the next request is expected to need 1500: refused until 1000 more are earned.
    const err = refusal(() => limiter.admit('small', 0));
    expect(err.retryAfterSeconds).toBe(1);
    limiter.admit('small', 1000);
    limiter.takeSamples('small', samples(100), 1000);
    // The last request was small: 1400 left is plenty for the next one.
    limiter.admit('small', 1000);
  });

  it('answers 429 when the tenant chose it', () => {
    const limiter = new RateLimiter(() => ({ ...limited, rate_limit_status: 429 }));
    limiter.takeSamples('small', samples(2000), 0);
    expect(refusal(() => limiter.takeSamples('small', samples(1), 0)).status).toBe(429);
  });

  it('refuses a request over max_samples_per_request with a 400 naming the limit', () => {
    const limiter = new RateLimiter(limitsFor);
    const err = refusal(() => limiter.takeSamples('small', samples(2001), 0));
    expect(err).toBeInstanceOf(RequestLimitError);
    expect([err.status, err.reason]).toEqual([400, 'too_many_samples']);
    expect(err.message).toContain("2001 samples, more than tenant small's max_samples_per_request (2000)");
  });

  it.each<[string, Partial<TenantLimits>, RequestCounts, string]>([
    ['series', { max_series_per_request: 10 }, { series: 11, samples: 11, exemplars: 0, metadata: 0 }, "11 series, more than tenant small's max_series_per_request (10)"],
    ['exemplars', { max_exemplars_per_request: 5 }, { series: 1, samples: 1, exemplars: 6, metadata: 0 }, "6 exemplars, more than tenant small's max_exemplars_per_request (5)"],
    ['metadata', { max_metadata_per_request: 2 }, { series: 0, samples: 0, exemplars: 0, metadata: 3 }, "3 metadata entries, more than tenant small's max_metadata_per_request (2)"],
  ])('refuses a request over the %s cap', (what, caps, counts, message) => {
    const limiter = new RateLimiter(() => ({ ...NO_LIMITS, ...caps }));
    const err = refusal(() => limiter.takeSamples('small', counts, 0));
    expect([err.status, err.reason]).toEqual([400, `too_many_${what}`]);
    expect(err.message).toContain(message);
  });

  it('counts exemplars and metadata against the ingestion rate, as Mimir does', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.takeSamples('small', { series: 1000, samples: 1000, exemplars: 600, metadata: 300 }, 0);
    // 1900 of 2000 are spent.
    expect(refusal(() => limiter.takeSamples('small', samples(101), 0)).reason).toBe('rate_limited');
    limiter.takeSamples('small', samples(100), 0);
  });

  it('charges the rate only what the request adds (its refused series cost nothing), while caps see it whole', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.takeSamples('small', samples(1500), 0, 100);
    limiter.takeSamples('small', samples(1900), 0, 1900);
    expect(refusal(() => limiter.takeSamples('small', samples(2001), 0, 1)).reason).toBe('too_many_samples');
  });

  it('keeps spent tokens across a reload with new limits', () => {
    const limiter = new RateLimiter(limitsFor);
    limiter.takeSamples('small', samples(2000), 0);
    limiter.configure((t) => (t === 'small' ? { ...limited, ingestion_rate: 10_000, ingestion_burst_size: 20_000 } : NO_LIMITS), 0);
    expect(refusal(() => limiter.takeSamples('small', samples(1), 0)).reason).toBe('rate_limited');
    limiter.takeSamples('small', samples(1000), 100);
    // A reload that lifts the limit lifts it at once.
    limiter.configure(() => NO_LIMITS, 100);
    limiter.takeSamples('small', samples(1_000_000), 100);
  });
});
