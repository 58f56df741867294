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
  {
    version: 2,
    description: 'queue: the durable per-backend write queue (one row per queued batch)',
    up(db) {
      // One table for every backend, keyed by (backend, shard): a partition is read and acknowledged
      // in seq order. seq is the rowid and AUTOINCREMENT, so it is never reused, not even after the
      // table was emptied or its newest rows deleted: seq keeps increasing across restarts, and a
      // new item can never sort before (or collide with) an acknowledged one.
      //
      // bytes is length(payload), stored so that sums never touch the blob. payload comes last, so
      // a row's small columns sit in its first page and the blob in overflow pages behind them.
      //
      // queue_partition serves every hot query as a range of one partition in seq order: peek
      // (seek, then the rows by rowid), "delete up to seq", and, because it also carries
      // enqueued_at, bytes, samples and histograms, the sums on acknowledge, the max-age sweep, the
      // oldest-item age and the counts at open without reading a single row (a covering index).
      db.exec(`
        CREATE TABLE queue (
          seq         INTEGER PRIMARY KEY AUTOINCREMENT,
          backend     TEXT NOT NULL,
          shard       INTEGER NOT NULL,
          enqueued_at INTEGER NOT NULL,
          bytes       INTEGER NOT NULL,
          samples     INTEGER NOT NULL,
          histograms  INTEGER NOT NULL,
          exemplars   INTEGER NOT NULL,
          metadata    INTEGER NOT NULL,
          tenant      TEXT NOT NULL,
          payload     BLOB NOT NULL
        ) STRICT;
        CREATE INDEX queue_partition ON queue (backend, shard, seq, enqueued_at, bytes, samples, histograms);
      `);
    },
  },
  {
    version: 3,
    description: 'tenants: tenants managed at run time (admin API / CLI): disabled flag and limit overrides',
    up(db) {
      // A row exists only for a tenant an operator touched at run time; tenants of the config file
      // and of tokens exist without one. limits holds the overrides as a JSON object of limit fields
      // in canonical units (ms, bytes), '{}' for none.
      db.exec(`
        CREATE TABLE tenants (
          name        TEXT PRIMARY KEY,
          description TEXT,
          created_at  INTEGER NOT NULL,
          updated_at  INTEGER NOT NULL,
          disabled_at INTEGER,
          limits      TEXT NOT NULL DEFAULT '{}'
        ) STRICT;
      `);
    },
  },
  {
    version: 4,
    description: 'usage: accepted and rejected data per tenant, cluster and hour',
    up(db) {
      // One row per (tenant, cluster, hour); flushes add to it (upsert). hour is the start of the
      // hour in seconds since the epoch (UTC). cluster is '' when a rejection names no cluster.
      // active_series is the most active series seen at a flush in that hour (NULL: not tracked).
      // WITHOUT ROWID: the primary key is the only access path (range by tenant and hour).
      db.exec(`
        CREATE TABLE usage (
          tenant            TEXT NOT NULL,
          cluster           TEXT NOT NULL,
          hour              INTEGER NOT NULL,
          accepted_samples  INTEGER NOT NULL DEFAULT 0,
          rejected_samples  INTEGER NOT NULL DEFAULT 0,
          accepted_series   INTEGER NOT NULL DEFAULT 0,
          rejected_series   INTEGER NOT NULL DEFAULT 0,
          requests          INTEGER NOT NULL DEFAULT 0,
          rejected_requests INTEGER NOT NULL DEFAULT 0,
          active_series     INTEGER,
          PRIMARY KEY (tenant, cluster, hour)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX usage_hour ON usage (hour);
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
