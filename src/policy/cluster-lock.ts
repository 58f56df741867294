/**
 * The cluster lock: a token may write only the clusters it is bound to.
 *
 * On the edge, a series' own `cluster` label wins over `external_labels`, so a series can arrive
 * carrying another cluster even from a correctly configured Prometheus. What happens then, and to
 * series without the label, is the tenant's policy (README: "The cluster lock").
 */
import type { WireBatch } from '../model/batch.js';

export type MissingClusterPolicy = 'inject' | 'require';
export type MismatchClusterPolicy = 'reject' | 'override';

export interface ClusterLockPolicy {
  readonly missing: MissingClusterPolicy;
  readonly mismatch: MismatchClusterPolicy;
}

export enum ClusterVerdict {
  /** The series carries a cluster the token allows. */
  Pass = 0,
  /** No cluster label: add the token's only cluster. */
  Inject = 1,
  /** Another cluster: replace it by the token's only cluster, keep the original in exported_<label>. */
  Override = 2,
  /** Refused: cluster_mismatch. */
  RejectMismatch = 3,
  /** Refused: cluster_missing. */
  RejectMissing = 4,
}

/** The clusters of one token, pre-encoded for byte comparison. */
export class AllowedClusters {
  readonly names: readonly string[];
  readonly bytes: readonly Buffer[];

  constructor(names: readonly string[]) {
    this.names = names;
    this.bytes = names.map((n) => Buffer.from(n, 'utf8'));
  }

  /** Index of the cluster whose bytes equal buf[start, end), or -1. */
  indexOf(buf: Buffer, start: number, end: number): number {
    const len = end - start;
    for (let i = 0; i < this.bytes.length; i++) {
      const candidate = this.bytes[i] as Buffer;
      if (candidate.length === len && buf.compare(candidate, 0, len, start, end) === 0) return i;
    }
    return -1;
  }
}

/**
 * Decide the fate of series `s` whose cluster label sits at label index `clusterLabel` (-1: none).
 * Sets `clusterIndex.value` to the index in `allowed` of the cluster the series ends up with.
 */
export function lockCluster(
  batch: WireBatch,
  clusterLabel: number,
  allowed: AllowedClusters,
  policy: ClusterLockPolicy,
  clusterIndex: { value: number },
): ClusterVerdict {
  const single = allowed.names.length === 1;
  if (clusterLabel < 0) {
    if (policy.missing === 'inject' && single) {
      clusterIndex.value = 0;
      return ClusterVerdict.Inject;
    }
    return ClusterVerdict.RejectMissing;
  }
  const found = allowed.indexOf(batch.buf, batch.valueStart[clusterLabel] as number, batch.valueEnd[clusterLabel] as number);
  if (found >= 0) {
    clusterIndex.value = found;
    return ClusterVerdict.Pass;
  }
  if (policy.mismatch === 'override' && single) {
    clusterIndex.value = 0;
    return ClusterVerdict.Override;
  }
  return ClusterVerdict.RejectMismatch;
}
