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

/** Page size of a newly created database file (see openDatabase). */
const PAGE_SIZE = 16384;

/** Bytes of WAL kept on disk after a checkpoint reset it. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * SQLite `synchronous` level for commits (config `queue.synchronous`). Both keep WAL mode, so a
 * commit is one sequential append to `tributary.db-wal`; they differ in when it reaches the disk:
 *
 * - `normal` (the default): a commit is written to the WAL but not fsynced; the WAL is synced at each
 *   checkpoint. A committed transaction survives a crash of the process (kill -9, OOM kill, a
 *   panic): the data is in the OS page cache and the kernel writes it out. A power loss or kernel
 *   crash can take back the last commits (never corrupt the file). Cheap: no fsync on the hot path.
 * - `full`: every commit fsyncs the WAL before it returns. A committed transaction also survives
 *   power loss and OS crashes, at the cost of one fsync per commit (group commit shares it between
 *   all the requests of one event-loop turn).
 */
export type SynchronousLevel = 'normal' | 'full';

export interface OpenDatabaseOptions {
  /** See {@link SynchronousLevel}; default `normal`. */
  readonly synchronous?: SynchronousLevel;
}

/**
 * Open (creating if needed) `<dataDir>/tributary.db`, set the connection pragmas and bring the schema
 * up to date. Throws a `SchemaVersionError` for a file written by a newer tributary, and closes the
 * connection before throwing anything.
 */
export function openDatabase(dataDir: string, options: OpenDatabaseOptions = {}): Database {
  // 0o700: the file holds token hashes and queued tenant data; nobody else needs to read it.
  // (The mode only applies when the directory is created here.)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, DB_FILE_NAME);
  const db = new SqliteDatabase(path);
  try {
    // 16 KiB pages for a new file (an existing file keeps its page size: SQLite cannot change it in
    // WAL mode). Queued batches are blobs of tens of KiB; measured on the durable queue with 90 KB
    // items, 16 KiB pages halve the CPU per append and double peek+ack throughput against the 4 KiB
    // default (fewer overflow pages per row), while 2 KB items lose little. Must precede the first write.
    db.pragma(`page_size = ${PAGE_SIZE}`);
    // WAL lets readers (the CLI, the authenticator) run while a writer commits, and makes a commit a
    // single sequential append.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new Error(`${path}: cannot switch SQLite to WAL journal mode (got "${String(mode)}"); is data_dir on a network file system?`);
    }
    // What each level protects against: see SynchronousLevel above.
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // After a checkpoint the WAL file is reused, not shrunk; cap what it keeps on disk once a burst
    // (or a long read by the CLI, which holds checkpoints back) made it grow.
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
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
