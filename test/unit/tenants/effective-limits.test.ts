import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { NO_LIMITS } from '../../../src/limits/limits.js';
import { applyOverrides, checkOverrides, effectiveLimits, parseLimitOverrides } from '../../../src/tenants/effective-limits.js';

const config = parseConfigText(`
backends:
  - name: central
    url: http://127.0.0.1:9090/api/v1/write
limits:
  max_active_series: 1000
  max_samples_per_request: 2000
  active_series_window: 30m
tenants:
  team-a:
    limits:
      max_active_series: 5000
      ingestion_rate: 10000
      ingestion_burst_size: 20000
      max_body_bytes: 1MiB
  team-b: {}
`);

describe('effectiveLimits', () => {
  it('takes each field from the admin overrides, then the tenant config, then the defaults', () => {
    const { limits, source } = effectiveLimits(config, 'team-a', { max_active_series: 7000, future_grace: 60_000 });
    expect(limits).toEqual({
      ...NO_LIMITS,
      max_samples_per_request: 2000,
      active_series_window: 1_800_000,
      ingestion_rate: 10000,
      ingestion_burst_size: 20000,
      max_body_bytes: 1_048_576,
      max_active_series: 7000,
      future_grace: 60_000,
    });
    expect(source).toMatchObject({
      max_active_series: 'admin',
      future_grace: 'admin',
      ingestion_rate: 'config',
      ingestion_burst_size: 'config',
      max_body_bytes: 'config',
      // The top-level limits are the defaults, whether written in the file or not.
      max_samples_per_request: 'default',
      active_series_window: 'default',
      request_rate: 'default',
      rate_limit_status: 'default',
    });
    expect(Object.keys(source)).toHaveLength(19);
  });

  it.each([
    { tenant: 'team-a', overrides: undefined, expected: 5000, from: 'config' },
    { tenant: 'team-a', overrides: { max_active_series: 1 }, expected: 1, from: 'admin' },
    { tenant: 'team-b', overrides: undefined, expected: 1000, from: 'default' },
    { tenant: 'not-in-config', overrides: {}, expected: 1000, from: 'default' },
    { tenant: 'not-in-config', overrides: { max_active_series: 0 }, expected: 0, from: 'admin' },
    { tenant: '__proto__', overrides: undefined, expected: 1000, from: 'default' },
    { tenant: 'constructor', overrides: undefined, expected: 1000, from: 'default' },
  ])('max_active_series of $tenant with $overrides is $expected from $from', ({ tenant, overrides, expected, from }) => {
    const result = effectiveLimits(config, tenant, overrides);
    expect(result.limits.max_active_series).toBe(expected);
    expect(result.source.max_active_series).toBe(from);
  });
});

describe('checkOverrides', () => {
  it('finds no problem when the merge works', () => {
    expect(checkOverrides(config, 'team-a', { ingestion_burst_size: 4000 })).toEqual([]);
    expect(checkOverrides(config, 'team-a', undefined)).toEqual([]);
  });

  it.each([
    {
      name: 'a burst below the request cap',
      tenant: 'team-a',
      overrides: { ingestion_burst_size: 100 },
      problems: ['ingestion_burst_size: must be at least max_samples_per_request (2000): a request of that size could never pass (got 100)'],
    },
    {
      name: 'a rate without a request cap',
      tenant: 'team-b',
      overrides: { ingestion_rate: 100, max_samples_per_request: 0 },
      problems: [expect.stringMatching(/^max_samples_per_request: must be set when ingestion_rate is/)],
    },
    {
      name: 'a request rate without a burst',
      tenant: 'team-b',
      overrides: { request_rate: 5 },
      problems: ['request_burst_size: must be at least 1 when request_rate is set'],
    },
  ])('names the field for $name', ({ tenant, overrides, problems }) => {
    expect(checkOverrides(config, tenant, overrides)).toEqual(problems);
  });
});

describe('parseLimitOverrides', () => {
  it('converts durations and sizes as the config file does, and takes null as "clear"', () => {
    expect(
      parseLimitOverrides({
        max_active_series: 100000,
        active_series_window: '20m',
        future_grace: '1h30m',
        max_body_bytes: '10MiB',
        max_decoded_bytes: 2048,
        rate_limit_status: 429,
        ingestion_rate: 1.5,
        request_rate: null,
        max_sample_age: null,
      }),
    ).toEqual({
      ok: true,
      set: {
        max_active_series: 100000,
        active_series_window: 1_200_000,
        future_grace: 5_400_000,
        max_body_bytes: 10_485_760,
        max_decoded_bytes: 2048,
        rate_limit_status: 429,
        ingestion_rate: 1.5,
      },
      clear: ['request_rate', 'max_sample_age'],
    });
  });

  it('accepts an empty object', () => {
    expect(parseLimitOverrides({})).toEqual({ ok: true, set: {}, clear: [] });
  });

  it.each([
    { name: 'an unknown field', input: { max_series: 5 }, problems: [expect.stringMatching(/^max_series: unknown limit field; the limit fields are ingestion_rate, /)] },
    { name: 'an unknown field set to null', input: { nope: null }, problems: [expect.stringMatching(/^nope: unknown limit field/)] },
    { name: 'a bad duration', input: { active_series_window: '20 minutes' }, problems: ['active_series_window: must be a duration such as 30s, 5m or 1h30m (got "20 minutes")'] },
    { name: 'a duration given as a number', input: { future_grace: 600 }, problems: ['future_grace: must be a duration such as 30s, 5m or 1h30m (got 600)'] },
    { name: 'a bad size', input: { max_body_bytes: '10 parsecs' }, problems: [expect.stringMatching(/^max_body_bytes: must be a byte size such as 1048576, 512KiB or 10MiB \(got "10 parsecs"\)/)] },
    { name: 'a size of the wrong type', input: { max_decoded_bytes: true }, problems: ['max_decoded_bytes: must be a byte size such as 1048576, 512KiB or 10MiB (got true)'] },
    { name: 'a string for a number', input: { max_active_series: 'many' }, problems: [expect.stringMatching(/^max_active_series: .*expected number/)] },
    { name: 'a negative number', input: { ingestion_rate: -1 }, problems: [expect.stringMatching(/^ingestion_rate: .*>=\s?0/)] },
    { name: 'a fraction for an integer', input: { max_series_per_request: 1.5 }, problems: [expect.stringMatching(/^max_series_per_request: .*int/)] },
    { name: 'a status that is not 429 or 503', input: { rate_limit_status: 500 }, problems: ['rate_limit_status: must be 429 or 503'] },
  ])('refuses $name, naming the field', ({ input, problems }) => {
    expect(parseLimitOverrides(input)).toEqual({ ok: false, problems });
  });

  it('lists every problem at once', () => {
    const result = parseLimitOverrides({ bogus: 1, max_active_series: -5, active_series_window: 'soon' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.map((p) => p.split(':')[0])).toEqual(['bogus', 'max_active_series', 'active_series_window']);
  });

  it.each([null, [], 'max_active_series=5', 42])('refuses %j, which is not an object of fields', (input) => {
    expect(parseLimitOverrides(input)).toEqual({ ok: false, problems: [expect.stringMatching(/^expected an object of limit fields/)] });
  });
});

describe('applyOverrides', () => {
  it('writes the set fields over the stored ones and removes the cleared ones', () => {
    const stored = { max_active_series: 1, ingestion_rate: 2, request_rate: 3 };
    expect(applyOverrides(stored, { ingestion_rate: 20, future_grace: 5 }, ['request_rate'])).toEqual({ max_active_series: 1, ingestion_rate: 20, future_grace: 5 });
    expect(stored).toEqual({ max_active_series: 1, ingestion_rate: 2, request_rate: 3 });
  });
});
