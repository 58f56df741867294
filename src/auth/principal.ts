/**
 * Who sent a request, as the later stages see it: the tenant the data belongs to and the clusters the
 * token may write. Immutable, so a stage cannot widen what another stage checks.
 */

export interface Principal {
  readonly tenant: string;
  /** The token's public id (`tok_…` for the state database, `config:<index>` for the config file). */
  readonly tokenId: string;
  /** Values of the cluster label this token may write; never empty. */
  readonly allowedClusters: readonly string[];
}

/** Build a frozen `Principal` (a copy of `allowedClusters`, frozen too). */
export function createPrincipal(tenant: string, tokenId: string, allowedClusters: readonly string[]): Principal {
  return Object.freeze({ tenant, tokenId, allowedClusters: Object.freeze([...allowedClusters]) });
}

/**
 * The cluster a whole request of this principal is counted under: the token's only cluster, or ''
 * for a token of several (its requests may carry any of them).
 */
export function requestCluster(principal: Principal): string {
  return principal.allowedClusters.length === 1 ? (principal.allowedClusters[0] as string) : '';
}
