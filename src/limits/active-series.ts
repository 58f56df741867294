/**
 * Active series per tenant, and per cluster within a tenant: a series is active while it received
 * a sample within the window. A tenant at its limit keeps every active series flowing; only new
 * series are refused.
 *
 * Series are known by the 53-bit hash of their label bytes (the high-water mark's key). A
 * collision would count two series as one: at a million series the chance is about 1 in 10^4 that
 * any pair collides, and the cost is one series admitted over the limit.
 *
 * Each map is kept in last-seen order (a series seen again moves to the end), so expiry only
 * visits what expires: no scan over all series on the request path.
 */
import type { TenantLimits } from './limits.js';

/** The limits of one tenant (0: no limit). */
export interface ActiveSeriesLimits {
  readonly maxActiveSeries: number;
  readonly maxActiveSeriesPerCluster: number;
  readonly windowMs: number;
}

/** A tenant's active-series limits, or undefined when it has none (its series are then not tracked). */
export function activeSeriesLimitsOf(l: TenantLimits): ActiveSeriesLimits | undefined {
  if (l.max_active_series === 0 && l.max_active_series_per_cluster === 0) return undefined;
  return { maxActiveSeries: l.max_active_series, maxActiveSeriesPerCluster: l.max_active_series_per_cluster, windowMs: l.active_series_window };
}

export enum Admission {
  Admitted = 0,
  OverTenantLimit = 1,
  OverClusterLimit = 2,
}

export class TenantActiveSeries {
  /** key -> last time seen (ms), in last-seen order. */
  readonly #lastSeen = new Map<number, number>();
  readonly #clusterOf = new Map<number, string>();
  readonly #perCluster = new Map<string, number>();

  get size(): number {
    return this.#lastSeen.size;
  }

  /** Active series per cluster (for metrics). */
  clusters(): ReadonlyMap<string, number> {
    return this.#perCluster;
  }

  /** Forget the series not seen within the window. */
  expire(nowMs: number, windowMs: number): void {
    const oldest = nowMs - windowMs;
    for (const [key, seenMs] of this.#lastSeen) {
      if (seenMs >= oldest) break;
      this.#lastSeen.delete(key);
      const cluster = this.#clusterOf.get(key) as string;
      this.#clusterOf.delete(key);
      const left = (this.#perCluster.get(cluster) ?? 1) - 1;
      if (left === 0) this.#perCluster.delete(cluster);
      else this.#perCluster.set(cluster, left);
    }
  }

  /** A sample of series `key` of `cluster`: admitted (and recorded), or over which limit. */
  admit(key: number, cluster: string, nowMs: number, limits: ActiveSeriesLimits): Admission {
    if (this.#lastSeen.has(key)) {
      // Move it to the end: the map stays in last-seen order.
      this.#lastSeen.delete(key);
      this.#lastSeen.set(key, nowMs);
      return Admission.Admitted;
    }
    if (limits.maxActiveSeries > 0 && this.#lastSeen.size >= limits.maxActiveSeries) return Admission.OverTenantLimit;
    const inCluster = this.#perCluster.get(cluster) ?? 0;
    if (limits.maxActiveSeriesPerCluster > 0 && inCluster >= limits.maxActiveSeriesPerCluster) return Admission.OverClusterLimit;
    this.#lastSeen.set(key, nowMs);
    this.#clusterOf.set(key, cluster);
    this.#perCluster.set(cluster, inCluster + 1);
    return Admission.Admitted;
  }
}

/** Every tenant's active series; outlives config reloads (new limits apply to what is tracked). */
export class ActiveSeries {
  readonly #tenants = new Map<string, TenantActiveSeries>();

  of(tenant: string): TenantActiveSeries {
    let t = this.#tenants.get(tenant);
    if (t === undefined) {
      t = new TenantActiveSeries();
      this.#tenants.set(tenant, t);
    }
    return t;
  }

  tenants(): ReadonlyMap<string, TenantActiveSeries> {
    return this.#tenants;
  }
}
