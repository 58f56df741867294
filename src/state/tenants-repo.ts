/**
 * The `tenants` table: tenants an operator touched at run time (admin API or `tributary tenant`).
 * A row holds the tenant's disabled flag and its limit overrides; tenants of the config file and of
 * tokens exist without one. Statements are prepared once per repository; every method is synchronous.
 */
import { NO_LIMITS, type TenantLimitOverrides, type TenantLimits } from '../limits/limits.js';
import type { Database } from './db.js';

/** A tenant as stored. */
export interface TenantRecord {
  readonly name: string;
  readonly description: string | undefined;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  /** When the tenant was disabled; undefined while it is enabled. */
  readonly disabledAtMs: number | undefined;
  /** Limit overrides in canonical units (ms, bytes, numbers); `{}` for none. */
  readonly overrides: TenantLimitOverrides;
}

export type CreateTenantResult =
  | { readonly outcome: 'created'; readonly record: TenantRecord }
  | { readonly outcome: 'already_exists'; readonly record: TenantRecord };

/** What a write to an existing row did; `not_found` when the tenant has no row. */
export type UpdateTenantResult =
  | { readonly outcome: 'changed'; readonly record: TenantRecord }
  | { readonly outcome: 'unchanged'; readonly record: TenantRecord }
  | { readonly outcome: 'not_found' };

interface TenantRow {
  name: string;
  description: string | null;
  created_at: number;
  updated_at: number;
  disabled_at: number | null;
  limits: string;
}

const COLUMNS = 'name, description, created_at, updated_at, disabled_at, limits';

/** Every limit field, in the order of `TenantLimits`. */
export const LIMIT_FIELDS = Object.keys(NO_LIMITS) as readonly (keyof TenantLimits)[];

export function isLimitField(name: string): name is keyof TenantLimits {
  return Object.hasOwn(NO_LIMITS, name);
}

export class TenantsRepo {
  readonly #db: Database;
  readonly #insert;
  readonly #selectAll;
  readonly #selectByName;
  readonly #exists;
  readonly #disable;
  readonly #enable;
  readonly #setLimits;

  constructor(db: Database) {
    this.#db = db;
    // ON CONFLICT DO NOTHING: create and ensure must not fail when another process (the CLI, a second
    // replica's admin API) inserted the same tenant a moment earlier.
    this.#insert = db.prepare<[TenantRow]>(
      `INSERT INTO tenants (${COLUMNS}) VALUES (@name, @description, @created_at, @updated_at, @disabled_at, @limits) ON CONFLICT (name) DO NOTHING`,
    );
    this.#selectAll = db.prepare<[], TenantRow>(`SELECT ${COLUMNS} FROM tenants ORDER BY name`);
    this.#selectByName = db.prepare<[string], TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE name = ?`);
    this.#exists = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM tenants WHERE name = ?');
    // Only an enabled tenant is disabled: disabling twice keeps the first time, as revoking a token does.
    this.#disable = db.prepare<[number, number, string]>(
      'UPDATE tenants SET disabled_at = ?, updated_at = ? WHERE name = ? AND disabled_at IS NULL',
    );
    this.#enable = db.prepare<[number, string]>('UPDATE tenants SET disabled_at = NULL, updated_at = ? WHERE name = ? AND disabled_at IS NOT NULL');
    this.#setLimits = db.prepare<[string, number, string, string]>('UPDATE tenants SET limits = ?, updated_at = ? WHERE name = ? AND limits IS NOT ?');
  }

  get(name: string): TenantRecord | undefined {
    const row = this.#selectByName.get(name);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Whether the tenant has a row, without parsing it (so a malformed row can still be reset). */
  has(name: string): boolean {
    return this.#exists.get(name) !== undefined;
  }

  /** Every row, by name. */
  list(): TenantRecord[] {
    return this.#selectAll.all().map(toRecord);
  }

  /** Insert a tenant; an existing row is left as it is (and returned). */
  create(name: string, description: string | undefined, nowMs: number): CreateTenantResult {
    return this.#db.transaction((): CreateTenantResult => {
      const inserted = this.#insertRow(name, description, nowMs);
      const record = this.#mustGet(name);
      return { outcome: inserted ? 'created' : 'already_exists', record };
    })();
  }

  /** The tenant's row, inserted (enabled, no overrides) if it had none. */
  ensure(name: string, nowMs: number): TenantRecord {
    return this.#db.transaction((): TenantRecord => {
      this.#insertRow(name, undefined, nowMs);
      return this.#mustGet(name);
    })();
  }

  /**
   * Disable the tenant at `disabledAtMs`, or enable it (`undefined`). Idempotent: disabling a
   * disabled tenant keeps its first time and reports `unchanged`.
   */
  setDisabled(name: string, disabledAtMs: number | undefined, nowMs: number): UpdateTenantResult {
    return this.#update(name, () =>
      disabledAtMs === undefined ? this.#enable.run(nowMs, name).changes : this.#disable.run(disabledAtMs, nowMs, name).changes,
    );
  }

  /** Replace the tenant's overrides (`{}` clears them all). */
  setOverrides(name: string, overrides: TenantLimitOverrides, nowMs: number): UpdateTenantResult {
    const json = canonicalOverridesJson(overrides);
    return this.#update(name, () => this.#setLimits.run(json, nowMs, name, json).changes);
  }

  #update(name: string, write: () => number): UpdateTenantResult {
    return this.#db.transaction((): UpdateTenantResult => {
      const changes = write();
      const record = this.get(name);
      if (record === undefined) return { outcome: 'not_found' };
      return { outcome: changes > 0 ? 'changed' : 'unchanged', record };
    })();
  }

  #insertRow(name: string, description: string | undefined, nowMs: number): boolean {
    const row: TenantRow = { name, description: description ?? null, created_at: nowMs, updated_at: nowMs, disabled_at: null, limits: '{}' };
    return this.#insert.run(row).changes > 0;
  }

  #mustGet(name: string): TenantRecord {
    const record = this.get(name);
    if (record === undefined) throw new Error(`BUG: tenant "${name}" has no row right after it was inserted`);
    return record;
  }
}

/**
 * The overrides as stored: fields in `TenantLimits` order, undefined ones left out, so equal
 * overrides always give the same JSON (and an unchanged write is recognised as one).
 */
export function canonicalOverrides(overrides: TenantLimitOverrides): Record<string, number> {
  const out: Record<string, number> = {};
  for (const field of LIMIT_FIELDS) {
    const value = overrides[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

export function canonicalOverridesJson(overrides: TenantLimitOverrides): string {
  return JSON.stringify(canonicalOverrides(overrides));
}

function toRecord(row: TenantRow): TenantRecord {
  return {
    name: row.name,
    description: row.description ?? undefined,
    createdAtMs: row.created_at,
    updatedAtMs: row.updated_at,
    disabledAtMs: row.disabled_at ?? undefined,
    overrides: parseOverrides(row.limits, row.name),
  };
}

/**
 * The `limits` column, checked field by field: a row written by hand (or by a buggy tool) must not
 * hand the limiter a string or a negative number.
 */
function parseOverrides(json: string, tenant: string): TenantLimitOverrides {
  const malformed = (why: string) =>
    new Error(`state database: tenant "${tenant}" has a malformed limits column (${why}); fix it with "tributary tenant limits clear ${tenant}"`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw malformed('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('expected a JSON object of limit fields');
  const out: Record<string, number> = {};
  for (const [field, v] of Object.entries(value)) {
    if (!isLimitField(field)) throw malformed(`unknown field "${field}"`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw malformed(`${field} must be a number >= 0`);
    if (field === 'rate_limit_status' && v !== 429 && v !== 503) throw malformed('rate_limit_status must be 429 or 503');
    out[field] = v;
  }
  return out as TenantLimitOverrides;
}
