/** The `limits` config: defaults, per-tenant overrides merged field by field, and refused combinations. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { mergeLimits, NO_LIMITS, perReplica } from '../../src/limits/limits.js';

const BACKENDS = 'backends:\n  - {name: c, url: "http://127.0.0.1:9090/api/v1/write"}\n';

function problems(yaml: string): string[] {
  try {
    parseConfigText(`${yaml}${BACKENDS}`);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

describe('limits config', () => {
  it('has no limits by default, and 503 as the rate-limit status', () => {
    expect(parseConfigText(BACKENDS).limits).toEqual(NO_LIMITS);
  });

  it('merges a tenant’s overrides field by field over the defaults', () => {
    const config = parseConfigText(`limits: {ingestion_rate: 1000, ingestion_burst_size: 5000, max_samples_per_request: 2000}
tenants:
  team-a:
    limits: {ingestion_rate: 50000, ingestion_burst_size: 100000, rate_limit_status: 429}
${BACKENDS}`);
    expect(mergeLimits(config.limits, config.tenants['team-a']?.limits)).toEqual({
      ...NO_LIMITS,
      ingestion_rate: 50000,
      ingestion_burst_size: 100000,
      max_samples_per_request: 2000,
      rate_limit_status: 429,
    });
  });

  it.each([
    ['an ingestion rate without a per-request cap', 'limits: {ingestion_rate: 1000, ingestion_burst_size: 5000}\n', 'limits.max_samples_per_request: must be set when ingestion_rate is'],
    [
      'a burst smaller than the largest allowed request',
      'limits: {ingestion_rate: 1000, ingestion_burst_size: 1000, max_samples_per_request: 2000}\n',
      'limits.ingestion_burst_size: must be at least max_samples_per_request (2000): a request of that size could never pass (got 1000)',
    ],
    ['a request rate without a burst', 'limits: {request_rate: 5}\n', 'limits.request_burst_size: must be at least 1 when request_rate is set'],
    ['a status other than 429 or 503', 'limits: {rate_limit_status: 500}\n', 'limits.rate_limit_status: must be 429 or 503'],
    ['a negative rate', 'limits: {ingestion_rate: -1}\n', 'limits.ingestion_rate'],
    ['an unknown limit', 'limits: {max_series: 5}\n', 'limits: unknown key(s) "max_series"'],
    [
      'a tenant whose merged limits cannot work',
      'limits: {ingestion_rate: 1000, ingestion_burst_size: 2000, max_samples_per_request: 2000}\ntenants:\n  team-a:\n    limits: {max_samples_per_request: 5000}\n',
      'tenants.team-a.limits.ingestion_burst_size: must be at least max_samples_per_request (5000)',
    ],
  ])('refuses %s, naming the field', (_name, yaml, expected) => {
    expect(problems(yaml).join('\n')).toContain(expected);
  });
});

describe('replicas', () => {
  it('divides the rates among replicas, and keeps bursts and per-request caps whole', () => {
    const config = parseConfigText(`replicas: 4
limits: {ingestion_rate: 1000, ingestion_burst_size: 5000, max_samples_per_request: 2000, request_rate: 8, request_burst_size: 4}
${BACKENDS}`);
    expect(perReplica(config.limits, config.replicas)).toEqual({
      ...config.limits,
      ingestion_rate: 250,
      request_rate: 2,
    });
    expect(perReplica(config.limits, 1)).toBe(config.limits);
  });

  it('refuses fewer than one replica', () => {
    expect(problems('replicas: 0\n').join('\n')).toContain('replicas');
  });
});
