/**
 * tributary's state database: one SQLite file under `data_dir`, opened once per process (plus short
 * visits from the `token` CLI while the server runs, which WAL and `busy_timeout` make safe).
 *
 * This folder is the only place that imports better-sqlite3; the rest of tributary sees the
 * `Database` type re-exported here and the repositories built on it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { migrate } from './migrations.js';

/** An open better-sqlite3 connection. Every call on it is synchronous (it blocks the event loop). */
export type Database = SqliteDatabase.Database;

/** The file name inside `data_dir`. */
export const DB_FILE_NAME = 'tributary.db';

/** How long a write waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Open (creating if needed) `<dataDir>/tributary.db`, set the connection pragmas and bring the schema
 * up to date. Throws a `SchemaVersionError` for a file written by a newer tributary, and closes the
 * connection before throwing anything.
 */
export function openDatabase(dataDir: string): Database {
  // 0o700: the file holds token hashes and queued tenant data; nobody else needs to read it.
  // (The mode only applies when the directory is created here.)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, DB_FILE_NAME);
  const db = new SqliteDatabase(path);
  try {
    // WAL lets readers (the CLI, the authenticator) run while a writer commits, and makes a commit a
    // single sequential append.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new Error(`${path}: cannot switch SQLite to WAL journal mode (got "${String(mode)}"); is data_dir on a network file system?`);
    }
    // With WAL, synchronous=NORMAL skips the fsync on each commit and syncs at checkpoints instead.
    // A committed transaction survives a process crash (kill -9: the WAL is in the OS page cache);
    // only a power loss or kernel crash can take back the last commits. That is the guarantee
    // tributary states today; the durable queue may revisit it (FULL costs an fsync per commit).
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    migrate(db, path);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Close cleanly: let SQLite refresh its planner statistics, then close (which checkpoints the WAL). */
export function closeDatabase(db: Database): void {
  if (!db.open) return;
  db.pragma('optimize');
  db.close();
}
