/**
 * Schema migrations, versioned in code. Each one runs in its own transaction together with the bump
 * of `PRAGMA user_version`, so a crash mid-migration leaves the file at the previous version, and a
 * reopen simply continues.
 *
 * Rules for adding one: append with the next version number; never edit or reorder a released one
 * (a database in the field has already run it).
 */
import type { Database } from './db.js';

export interface Migration {
  /** 1, 2, 3…: the `user_version` the database has once this migration ran. */
  readonly version: number;
  /** One line for logs and error messages. */
  readonly description: string;
  up(db: Database): void;
}

/** A database whose schema this code cannot use (written by a newer tributary). */
export class SchemaVersionError extends Error {
  readonly foundVersion: number;
  readonly knownVersion: number;
  constructor(source: string, foundVersion: number, knownVersion: number) {
    super(
      `${source}: the state database has schema version ${foundVersion}, but this tributary knows only up to ${knownVersion}; ` +
        'it was written by a newer release: run that release (downgrades are not supported) or point data_dir at another directory',
    );
    this.foundVersion = foundVersion;
    this.knownVersion = knownVersion;
  }
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tokens: hashed bearer tokens with tenant and allowed clusters',
    up(db) {
      // hash is UNIQUE: it is the lookup key on every request (the index makes that one B-tree probe),
      // and two tenants must never share a secret.
      db.exec(`
        CREATE TABLE tokens (
          id           TEXT PRIMARY KEY,
          hash         TEXT NOT NULL UNIQUE,
          tenant       TEXT NOT NULL,
          clusters     TEXT NOT NULL,
          description  TEXT,
          created_at   INTEGER NOT NULL,
          last_used_at INTEGER,
          revoked_at   INTEGER
        ) STRICT;
        CREATE INDEX tokens_tenant ON tokens (tenant);
      `);
    },
  },
];

/** The schema version this code produces. */
export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.at(-1)?.version ?? 0;
}

/**
 * Apply the pending migrations in order. Returns the versions before and after. `source` names the
 * file in error messages.
 */
export function migrate(
  db: Database,
  source: string,
  migrations: readonly Migration[] = MIGRATIONS,
): { readonly from: number; readonly to: number } {
  assertConsecutive(migrations);
  const known = latestVersion(migrations);
  const from = readUserVersion(db);
  if (from > known) throw new SchemaVersionError(source, from, known);
  for (const migration of migrations) {
    if (migration.version <= from) continue;
    // IMMEDIATE takes the write lock up front, so two processes opening a fresh file at once cannot
    // both decide to run the same migration.
    db.transaction(() => {
      if (readUserVersion(db) >= migration.version) return;
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return { from, to: readUserVersion(db) };
}

function readUserVersion(db: Database): number {
  const version = db.pragma('user_version', { simple: true });
  if (typeof version !== 'number') throw new Error(`BUG: PRAGMA user_version returned ${String(version)}`);
  return version;
}

function assertConsecutive(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`BUG: migration #${i} has version ${m.version}, expected ${i + 1}`);
  });
}
