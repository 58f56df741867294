/** Active series per tenant and per cluster, with a fake clock: limits, expiry, last-seen order. */
import { describe, expect, it } from 'vitest';
import { Admission, type ActiveSeriesLimits, TenantActiveSeries } from '../../src/limits/active-series.js';

const MIN = 60_000;
const limits = (maxActiveSeries: number, maxActiveSeriesPerCluster = 0): ActiveSeriesLimits => ({ maxActiveSeries, maxActiveSeriesPerCluster, windowMs: 20 * MIN });

describe('TenantActiveSeries', () => {
  it('admits new series up to the limit, then refuses new ones while active ones keep flowing', () => {
    const t = new TenantActiveSeries();
    for (const key of [1, 2, 3]) expect(t.admit(key, 'a', 0, limits(3))).toBe(Admission.Admitted);
    expect(t.admit(4, 'a', 0, limits(3))).toBe(Admission.OverTenantLimit);
    for (const key of [1, 2, 3]) expect(t.admit(key, 'a', 1000, limits(3))).toBe(Admission.Admitted);
    expect(t.size).toBe(3);
  });

  it('limits each cluster of the tenant on its own', () => {
    const t = new TenantActiveSeries();
    expect(t.admit(1, 'a', 0, limits(0, 1))).toBe(Admission.Admitted);
    expect(t.admit(2, 'a', 0, limits(0, 1))).toBe(Admission.OverClusterLimit);
    expect(t.admit(3, 'b', 0, limits(0, 1))).toBe(Admission.Admitted);
    expect(Object.fromEntries(t.clusters())).toEqual({ a: 1, b: 1 });
  });

  it('frees the slot of a series not seen within the window, and keeps one seen again', () => {
    const t = new TenantActiveSeries();
    t.admit(1, 'a', 0, limits(2));
    t.admit(2, 'a', 5 * MIN, limits(2));
    // Series 1 is seen again at 15m: it stays active until 35m.
    t.admit(1, 'a', 15 * MIN, limits(2));
    t.expire(26 * MIN, 20 * MIN);
    expect(t.size).toBe(1);
    expect(t.admit(3, 'a', 26 * MIN, limits(2))).toBe(Admission.Admitted);
    expect(t.admit(4, 'a', 26 * MIN, limits(2))).toBe(Admission.OverTenantLimit);
    t.expire(36 * MIN, 20 * MIN);
    expect(t.size).toBe(1);
    expect(Object.fromEntries(t.clusters())).toEqual({ a: 1 });
  });

  it('forgets a cluster whose series all expired', () => {
    const t = new TenantActiveSeries();
    t.admit(1, 'gone', 0, limits(10));
    t.expire(21 * MIN, 20 * MIN);
    expect(t.clusters().size).toBe(0);
  });
});
