import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, DB_FILE_NAME, openDatabase } from '../../../src/state/db.js';
import { latestVersion, type Migration, migrate, SchemaVersionError } from '../../../src/state/migrations.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-db-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function userVersion(path: string): unknown {
  const raw = new SqliteDatabase(path, { readonly: true });
  try {
    return raw.pragma('user_version', { simple: true });
  } finally {
    raw.close();
  }
}

describe('openDatabase', () => {
  it('creates the data directory and the database file inside it', () => {
    const dataDir = join(dir, 'nested', 'data');
    const db = openDatabase(dataDir);
    closeDatabase(db);
    expect(existsSync(join(dataDir, DB_FILE_NAME))).toBe(true);
  });

  it('sets WAL journal mode, synchronous NORMAL, a busy timeout and foreign keys', () => {
    const db = openDatabase(dir);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      closeDatabase(db);
    }
  });

  it('records the latest schema version in user_version', () => {
    closeDatabase(openDatabase(dir));
    expect(userVersion(join(dir, DB_FILE_NAME))).toBe(latestVersion());
    expect(latestVersion()).toBeGreaterThanOrEqual(1);
  });

  it('creates the tokens table with the documented columns', () => {
    const db = openDatabase(dir);
    try {
      const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('tokens')").all().map((c) => c.name);
      expect(columns).toEqual(['id', 'hash', 'tenant', 'clusters', 'description', 'created_at', 'last_used_at', 'revoked_at']);
    } finally {
      closeDatabase(db);
    }
  });

  it('reopens an existing database without re-running migrations and keeps its rows', () => {
    const first = openDatabase(dir);
    first.prepare("INSERT INTO tokens (id, hash, tenant, clusters, created_at) VALUES ('tok_1', 'h', 't', '[\"c\"]', 1)").run();
    closeDatabase(first);

    const second = openDatabase(dir);
    try {
      expect(second.prepare('SELECT count(*) AS n FROM tokens').get()).toEqual({ n: 1 });
    } finally {
      closeDatabase(second);
    }
    expect(userVersion(join(dir, DB_FILE_NAME))).toBe(latestVersion());
  });

  it('refuses a database written by a newer tributary, naming both versions', () => {
    closeDatabase(openDatabase(dir));
    const raw = new SqliteDatabase(join(dir, DB_FILE_NAME));
    raw.pragma(`user_version = ${latestVersion() + 5}`);
    raw.close();

    expect(() => openDatabase(dir)).toThrow(SchemaVersionError);
    expect(() => openDatabase(dir)).toThrow(new RegExp(`schema version ${latestVersion() + 5}.*only up to ${latestVersion()}`));
  });

  it('closing twice is harmless', () => {
    const db = openDatabase(dir);
    closeDatabase(db);
    expect(() => closeDatabase(db)).not.toThrow();
  });
});

describe('migrate', () => {
  function memoryDb(): SqliteDatabase.Database {
    return new SqliteDatabase(':memory:');
  }

  const table = (version: number, name: string): Migration => ({
    version,
    description: `create ${name}`,
    up: (db) => {
      db.exec(`CREATE TABLE ${name} (x INTEGER)`);
    },
  });

  it('applies only the migrations newer than user_version', () => {
    const db = memoryDb();
    expect(migrate(db, 'test', [table(1, 'a')])).toEqual({ from: 0, to: 1 });
    expect(migrate(db, 'test', [table(1, 'a'), table(2, 'b')])).toEqual({ from: 1, to: 2 });
    expect(migrate(db, 'test', [table(1, 'a'), table(2, 'b')])).toEqual({ from: 2, to: 2 });
    db.close();
  });

  it('rolls a failing migration back entirely, user_version included', () => {
    const db = memoryDb();
    const failing: Migration = {
      version: 2,
      description: 'half done',
      up: (d) => {
        d.exec('CREATE TABLE half (x INTEGER)');
        throw new Error('boom');
      },
    };
    expect(() => migrate(db, 'test', [table(1, 'a'), failing])).toThrow('boom');
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get()).toEqual({ n: 0 });
    db.close();
  });

  it.each([
    { name: 'a gap', versions: [1, 3] },
    { name: 'a list not starting at 1', versions: [2] },
    { name: 'a repeated version', versions: [1, 1] },
  ])('rejects a migration list with $name as a bug', ({ versions }) => {
    const db = memoryDb();
    expect(() => migrate(db, 'test', versions.map((v, i) => table(v, `t${i}`)))).toThrow(/^BUG: /);
    db.close();
  });
});
