/**
 * The `tokens` table: one row per issued token, keyed by a public id, holding only the SHA-256 of
 * the secret. Statements are prepared once per repository; every method is synchronous.
 */
import type { Database } from './db.js';

/** A token as stored. Never holds the secret. */
export interface TokenRecord {
  /** Public, safe to print and log (e.g. `tok_3f9a0c1b22de`). */
  readonly id: string;
  /** SHA-256 of the secret, lowercase hex. Not a secret, but still never printed by the CLI. */
  readonly hash: string;
  readonly tenant: string;
  /** The values of the cluster label this token may write. */
  readonly clusters: readonly string[];
  readonly description: string | undefined;
  readonly createdAtMs: number;
  readonly lastUsedAtMs: number | undefined;
  readonly revokedAtMs: number | undefined;
}

export interface NewTokenRecord {
  readonly id: string;
  readonly hash: string;
  readonly tenant: string;
  readonly clusters: readonly string[];
  readonly description?: string | undefined;
  readonly createdAtMs: number;
}

/** What `revoke` did: it is idempotent, and an unknown id is told apart from a repeat. */
export type RevokeResult =
  | { readonly outcome: 'revoked'; readonly record: TokenRecord }
  | { readonly outcome: 'already_revoked'; readonly record: TokenRecord }
  | { readonly outcome: 'not_found' };

/** One use of a token to persist: the latest time it authenticated a request. */
export interface TokenUse {
  readonly id: string;
  readonly atMs: number;
}

interface TokenRow {
  id: string;
  hash: string;
  tenant: string;
  clusters: string;
  description: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, hash, tenant, clusters, description, created_at, last_used_at, revoked_at';

export class TokensRepo {
  readonly #db: Database;
  readonly #insert;
  readonly #selectAll;
  readonly #selectByTenant;
  readonly #selectByHash;
  readonly #selectById;
  readonly #revoke;
  readonly #touch;

  constructor(db: Database) {
    this.#db = db;
    this.#insert = db.prepare<[TokenRow]>(
      `INSERT INTO tokens (${COLUMNS}) VALUES (@id, @hash, @tenant, @clusters, @description, @created_at, @last_used_at, @revoked_at)`,
    );
    this.#selectAll = db.prepare<[], TokenRow>(`SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`);
    this.#selectByTenant = db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE tenant = ? ORDER BY created_at, id`);
    this.#selectByHash = db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE hash = ?`);
    this.#selectById = db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`);
    this.#revoke = db.prepare<[number, string]>('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    // MAX: a flush that arrives late (or from a second process) never moves last_used backwards.
    this.#touch = db.prepare<[number, string]>('UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?');
  }

  /** Insert a token. Throws on a duplicate id or hash (SQLite constraint error). */
  create(token: NewTokenRecord): TokenRecord {
    const row: TokenRow = {
      id: token.id,
      hash: token.hash,
      tenant: token.tenant,
      clusters: JSON.stringify(token.clusters),
      description: token.description ?? null,
      created_at: token.createdAtMs,
      last_used_at: null,
      revoked_at: null,
    };
    this.#insert.run(row);
    return toRecord(row);
  }

  /** Every token (revoked ones included), oldest first; only one tenant's when `tenant` is given. */
  list(filter: { readonly tenant?: string | undefined } = {}): TokenRecord[] {
    const rows = filter.tenant === undefined ? this.#selectAll.all() : this.#selectByTenant.all(filter.tenant);
    return rows.map(toRecord);
  }

  findByHash(hash: string): TokenRecord | undefined {
    const row = this.#selectByHash.get(hash);
    return row === undefined ? undefined : toRecord(row);
  }

  findById(id: string): TokenRecord | undefined {
    const row = this.#selectById.get(id);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Mark a token revoked at `atMs`. Revoking twice keeps the first time. */
  revoke(id: string, atMs: number): RevokeResult {
    return this.#db.transaction((): RevokeResult => {
      const changed = this.#revoke.run(atMs, id).changes > 0;
      const record = this.findById(id);
      if (record === undefined) return { outcome: 'not_found' };
      return { outcome: changed ? 'revoked' : 'already_revoked', record };
    })();
  }

  /** Record when tokens were last used, all in one transaction (one commit, however many tokens). */
  touchLastUsed(uses: readonly TokenUse[]): void {
    if (uses.length === 0) return;
    this.#db.transaction(() => {
      for (const use of uses) this.#touch.run(use.atMs, use.id);
    })();
  }
}

function toRecord(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    hash: row.hash,
    tenant: row.tenant,
    clusters: parseClusters(row.clusters, row.id),
    description: row.description ?? undefined,
    createdAtMs: row.created_at,
    lastUsedAtMs: row.last_used_at ?? undefined,
    revokedAtMs: row.revoked_at ?? undefined,
  };
}

function parseClusters(json: string, id: string): readonly string[] {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new Error(`state database: token ${id} has a malformed clusters column (expected a JSON array of strings)`);
  }
  return value;
}
