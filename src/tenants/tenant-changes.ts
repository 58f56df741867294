/**
 * The run-time changes an operator makes to a tenant, shared by the admin API and the `tributary
 * tenant` CLI so both write the tenants table the same way. Each is one IMMEDIATE transaction: the
 * API (the server's connection) and the CLI (another process) may write at the same moment, and
 * neither may lose the other's change.
 */
import type { TenantLimitOverrides } from '../limits/limits.js';
import type { Database } from '../state/db.js';
import { TenantsRepo, type UpdateTenantResult } from '../state/tenants-repo.js';

/** Disable (`disabled`) or enable a tenant, creating its row first if it has none. */
export function setTenantDisabled(db: Database, name: string, disabled: boolean, nowMs: number): UpdateTenantResult {
  const repo = new TenantsRepo(db);
  return db
    .transaction(() => {
      repo.ensure(name, nowMs);
      return repo.setDisabled(name, disabled ? nowMs : undefined, nowMs);
    })
    .immediate();
}

/** What an overrides change did, or the problems that refused it (then nothing was written). */
export type OverridesChange =
  | { readonly ok: true; readonly before: TenantLimitOverrides; readonly after: TenantLimitOverrides; readonly malformed: boolean }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Read-modify-write of a tenant's limit overrides. `check` gives the problems of the result (none:
 * it is written). With `resetMalformed` (a clear of every field), a malformed stored column is
 * replaced instead of refused, and `malformed` says so.
 */
export function changeOverrides(
  db: Database,
  name: string,
  change: (stored: TenantLimitOverrides) => TenantLimitOverrides,
  check: (next: TenantLimitOverrides) => readonly string[],
  nowMs: number,
  { resetMalformed = false }: { readonly resetMalformed?: boolean } = {},
): OverridesChange {
  const repo = new TenantsRepo(db);
  return db
    .transaction((): OverridesChange => {
      const read = resetMalformed ? readOverridesOrNone(repo, name) : (repo.get(name)?.overrides ?? {});
      const before = read ?? {};
      const after = change(before);
      const problems = check(after);
      if (problems.length > 0) return { ok: false, problems };
      // has() and not ensure() for an existing row: ensure() reads the row back, and a clear must
      // also work on a row whose limits column is malformed.
      const exists = repo.has(name);
      if (exists || Object.keys(after).length > 0) {
        if (!exists) repo.ensure(name, nowMs);
        repo.setOverrides(name, after, nowMs);
      }
      return { ok: true, before, after, malformed: read === undefined };
    })
    .immediate();
}

/** The stored overrides; undefined for a malformed column (a clear of all fields replaces it anyway). */
function readOverridesOrNone(repo: TenantsRepo, name: string): TenantLimitOverrides | undefined {
  try {
    return repo.get(name)?.overrides ?? {};
  } catch {
    return undefined;
  }
}
