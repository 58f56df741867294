/**
 * The server's in-memory view of the `tenants` table: is a tenant disabled, what limit overrides
 * does it have. It is read on every request, so every lookup is a Map get; the table itself is read
 * only when it may have changed.
 *
 * How a change reaches a running server:
 * - through another connection (the `tributary tenant` CLI in another process, another tool):
 *   SQLite bumps `PRAGMA data_version` for every OTHER connection's commit, and the server calls
 *   `refreshIfChanged()` every 250 ms, which compares it with the last value seen (one pragma, no
 *   table read, while nothing changed);
 * - through the server's own connection (its admin API): data_version does not move for a
 *   connection's own commits, so the server calls `refresh()` right after such a write.
 */
import type { TenantLimitOverrides } from '../limits/limits.js';
import type { Database } from '../state/db.js';
import { canonicalOverrides, type TenantRecord, TenantsRepo } from '../state/tenants-repo.js';

interface Entry {
  readonly disabledAtMs: number | undefined;
  /** undefined when the tenant has no overrides, so callers can skip the merge. */
  readonly overrides: TenantLimitOverrides | undefined;
}

const EMPTY: ReadonlyMap<string, Entry> = new Map();

export class TenantDirectory {
  readonly #db: Database | undefined;
  readonly #repo: TenantsRepo | undefined;
  #entries: ReadonlyMap<string, Entry> = EMPTY;
  /** The content last read, as canonical JSON: what tells a real change from a commit elsewhere. */
  #canonical = '[]';
  #dataVersion: unknown;
  #version = 0;

  /** `db` undefined: no state database, so no tenant is ever disabled or overridden. */
  constructor(db: Database | undefined) {
    this.#db = db;
    this.#repo = db === undefined ? undefined : new TenantsRepo(db);
    this.refresh();
  }

  /** Increments whenever the content changed (a tenant disabled or enabled, overrides set or cleared). */
  get version(): number {
    return this.#version;
  }

  isDisabled(tenant: string): boolean {
    return this.#entries.get(tenant)?.disabledAtMs !== undefined;
  }

  disabledAt(tenant: string): number | undefined {
    return this.#entries.get(tenant)?.disabledAtMs;
  }

  /** The admin overrides of `tenant`, or undefined when it has none. */
  overridesOf(tenant: string): TenantLimitOverrides | undefined {
    return this.#entries.get(tenant)?.overrides;
  }

  /** The tenants the directory has something on (disabled, or with overrides), by name. */
  tenants(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Re-read the table now (call it right after a write through the same connection). Returns true
   * when the content changed. Throws when a row cannot be parsed, keeping the view it had.
   */
  refresh(): boolean {
    return this.#reload();
  }

  /**
   * Re-read the table if another connection committed since the last read. Returns true only when
   * the content really changed. A malformed row throws once per change (the data version is taken
   * before the read), and the view stays as it was.
   */
  refreshIfChanged(): boolean {
    const db = this.#db;
    if (db === undefined || !db.open) return false;
    if (db.pragma('data_version', { simple: true }) === this.#dataVersion) return false;
    return this.#reload();
  }

  #reload(): boolean {
    const db = this.#db;
    if (db === undefined || this.#repo === undefined || !db.open) return false;
    this.#dataVersion = db.pragma('data_version', { simple: true });
    const entries = toEntries(this.#repo.list());
    const canonical = canonicalJson(entries);
    if (canonical === this.#canonical) return false;
    this.#entries = entries;
    this.#canonical = canonical;
    this.#version += 1;
    return true;
  }
}

/** Only what the directory serves: a description or updated_at change is not a change here. */
function canonicalJson(entries: ReadonlyMap<string, Entry>): string {
  return JSON.stringify([...entries].map(([name, e]) => [name, e.disabledAtMs ?? null, canonicalOverrides(e.overrides ?? {})]));
}

/** Rows that matter to a request: disabled, or with overrides. The others are left out of the map. */
function toEntries(records: readonly TenantRecord[]): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const r of records) {
    const hasOverrides = Object.keys(canonicalOverrides(r.overrides)).length > 0;
    if (r.disabledAtMs === undefined && !hasOverrides) continue;
    entries.set(r.name, { disabledAtMs: r.disabledAtMs, overrides: hasOverrides ? r.overrides : undefined });
  }
  return entries;
}
