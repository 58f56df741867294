/**
 * Every tenant tributary knows, from wherever it is declared, as the admin API and `tributary tenant`
 * show it. A tenant exists once it is named by the config (`tenants:` or a token of `tokens:`), by a
 * row of the `tenants` table (created or touched at run time), or by a token of the state database.
 * There is no single list, so this module joins the three.
 */
import type { Config } from '../config/schema.js';
import type { TenantLimits } from '../limits/limits.js';
import type { Database } from '../state/db.js';
import { canonicalOverrides, LIMIT_FIELDS, type TenantRecord, TenantsRepo } from '../state/tenants-repo.js';
import { type TokenRecord, TokensRepo } from '../state/tokens-repo.js';
import { checkOverrides, effectiveLimits, type LimitSource } from './effective-limits.js';

/** Where a tenant is declared: the config file, the tenants table (admin), or database tokens. */
export type TenantSource = 'config' | 'admin' | 'token';

/** Names a new tenant may have (tenants of the config file and of tokens are not held to it). */
export const TENANT_NAME_RE = /^[A-Za-z0-9_.-]{1,128}$/;
export const TENANT_NAME_RULE = '1 to 128 of the characters A-Z a-z 0-9 _ . -';

/** A token, from the state database or the config file, without any secret or hash. */
export interface TokenInfo {
  /** `tok_…` for the database, `config:<index>` for the config file (as the authenticator names them). */
  readonly id: string;
  readonly source: 'database' | 'config';
  readonly tenant: string;
  readonly clusters: readonly string[];
  readonly description: string | undefined;
  readonly createdAtMs: number | undefined;
  readonly lastUsedAtMs: number | undefined;
  readonly revokedAtMs: number | undefined;
}

export interface KnownTenant {
  readonly name: string;
  readonly sources: readonly TenantSource[];
  /** The tenants-table row, if it has one. */
  readonly record: TenantRecord | undefined;
  /** Its tokens, revoked ones included. */
  readonly tokens: readonly TokenInfo[];
}

export class TenantCatalog {
  readonly #tenants: TenantsRepo;
  readonly #tokens: TokensRepo;
  readonly #config: Config | undefined;

  /** `config` undefined: the config file is not known (a CLI run without --config). */
  constructor(db: Database, config: Config | undefined) {
    this.#tenants = new TenantsRepo(db);
    this.#tokens = new TokensRepo(db);
    this.#config = config;
  }

  /** Every known tenant, by name. */
  list(): KnownTenant[] {
    const records = new Map(this.#tenants.list().map((r) => [r.name, r]));
    const tokens = this.tokens();
    const names = new Set([...records.keys(), ...tokens.map((t) => t.tenant), ...this.#configTenantNames()]);
    return [...names].sort().map((name) => this.#known(name, records.get(name), tokens));
  }

  /** The tenant, or undefined when it is known nowhere. */
  find(name: string): KnownTenant | undefined {
    const known = this.#known(name, this.#tenants.get(name), this.tokens(name));
    return known.sources.length === 0 ? undefined : known;
  }

  /** Tokens (config ones first, then the database's oldest first); only one tenant's when given. */
  tokens(tenant?: string): TokenInfo[] {
    const fromConfig: TokenInfo[] = (this.#config?.tokens ?? []).map((t, i) => ({
      id: `config:${i}`,
      source: 'config',
      tenant: t.tenant,
      clusters: t.clusters,
      description: undefined,
      createdAtMs: undefined,
      lastUsedAtMs: undefined,
      revokedAtMs: undefined,
    }));
    const fromDb = this.#tokens.list({ tenant }).map(tokenInfoOf);
    return [...fromConfig.filter((t) => tenant === undefined || t.tenant === tenant), ...fromDb];
  }

  #configTenantNames(): string[] {
    const config = this.#config;
    if (config === undefined) return [];
    return [...Object.keys(config.tenants), ...config.tokens.map((t) => t.tenant)];
  }

  #known(name: string, record: TenantRecord | undefined, allTokens: readonly TokenInfo[]): KnownTenant {
    const tokens = allTokens.filter((t) => t.tenant === name);
    const sources: TenantSource[] = [];
    if (this.#configTenantNames().includes(name)) sources.push('config');
    if (record !== undefined) sources.push('admin');
    if (tokens.some((t) => t.source === 'database')) sources.push('token');
    return { name, sources, record, tokens };
  }
}

/** A database token as shown: everything but the hash. */
export function tokenInfoOf(t: TokenRecord): TokenInfo {
  return {
    id: t.id,
    source: 'database',
    tenant: t.tenant,
    clusters: t.clusters,
    description: t.description,
    createdAtMs: t.createdAtMs,
    lastUsedAtMs: t.lastUsedAtMs,
    revokedAtMs: t.revokedAtMs,
  };
}

/** Tokens that still authenticate. */
export function activeTokenCount(tenant: KnownTenant): number {
  return tenant.tokens.filter((t) => t.revokedAtMs === undefined).length;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** A token as JSON: snake_case, times as RFC 3339, never a secret or a hash. */
export function tokenJson(t: TokenInfo): Record<string, unknown> {
  return {
    id: t.id,
    source: t.source,
    tenant: t.tenant,
    clusters: t.clusters,
    description: t.description ?? null,
    created_at: iso(t.createdAtMs),
    last_used_at: iso(t.lastUsedAtMs),
    revoked_at: iso(t.revokedAtMs),
  };
}

/** One line of a tenant list. */
export function tenantSummaryJson(t: KnownTenant): Record<string, unknown> {
  return {
    name: t.name,
    sources: t.sources,
    disabled: t.record?.disabledAtMs !== undefined,
    disabled_at: iso(t.record?.disabledAtMs),
    description: t.record?.description ?? null,
    overrides: canonicalOverrides(t.record?.overrides ?? {}),
    tokens: activeTokenCount(t),
  };
}

/**
 * Everything about one tenant: its effective limits (canonical numbers: ms, bytes) with the source
 * of each, the problems of that combination (none unless the config changed under the overrides),
 * and its tokens.
 */
export function tenantDetailJson(t: KnownTenant, config: Config): Record<string, unknown> {
  const effective = effectiveLimits(config, t.name, t.record?.overrides);
  const limits: Partial<Record<keyof TenantLimits, { value: number; source: LimitSource }>> = {};
  for (const field of LIMIT_FIELDS) limits[field] = { value: effective.limits[field], source: effective.source[field] };
  return {
    ...tenantSummaryJson(t),
    created_at: iso(t.record?.createdAtMs),
    updated_at: iso(t.record?.updatedAtMs),
    limits,
    problems: checkOverrides(config, t.name, t.record?.overrides),
    tokens: t.tokens.map(tokenJson),
  };
}
