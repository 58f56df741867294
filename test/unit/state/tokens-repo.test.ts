import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, type Database, openDatabase } from '../../../src/state/db.js';
import { type NewTokenRecord, TokensRepo } from '../../../src/state/tokens-repo.js';

let dir: string;
let db: Database;
let repo: TokensRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-tokens-'));
  db = openDatabase(dir);
  repo = new TokensRepo(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const token = (id: string, overrides: Partial<NewTokenRecord> = {}): NewTokenRecord => ({
  id,
  hash: `hash-of-${id}`,
  tenant: 'acme',
  clusters: ['eu-1'],
  createdAtMs: 1000,
  ...overrides,
});

describe('TokensRepo', () => {
  it('stores a token and finds it by hash and by id', () => {
    const created = repo.create(token('tok_a', { clusters: ['eu-1', 'eu-2'], description: 'edge in Frankfurt' }));
    const expected = {
      id: 'tok_a',
      hash: 'hash-of-tok_a',
      tenant: 'acme',
      clusters: ['eu-1', 'eu-2'],
      description: 'edge in Frankfurt',
      createdAtMs: 1000,
      lastUsedAtMs: undefined,
      revokedAtMs: undefined,
    };
    expect(created).toEqual(expected);
    expect(repo.findByHash('hash-of-tok_a')).toEqual(expected);
    expect(repo.findById('tok_a')).toEqual(expected);
  });

  it('returns undefined for an unknown hash or id', () => {
    expect(repo.findByHash('nope')).toBeUndefined();
    expect(repo.findById('tok_nope')).toBeUndefined();
  });

  it('refuses a second token with the same hash', () => {
    repo.create(token('tok_a'));
    expect(() => repo.create(token('tok_b', { hash: 'hash-of-tok_a' }))).toThrow(/UNIQUE/);
  });

  it('lists every token oldest first, or only one tenant', () => {
    repo.create(token('tok_b', { createdAtMs: 2000, tenant: 'globex' }));
    repo.create(token('tok_a', { createdAtMs: 1000 }));
    repo.create(token('tok_c', { createdAtMs: 3000 }));
    expect(repo.list().map((t) => t.id)).toEqual(['tok_a', 'tok_b', 'tok_c']);
    expect(repo.list({ tenant: 'acme' }).map((t) => t.id)).toEqual(['tok_a', 'tok_c']);
    expect(repo.list({ tenant: 'nobody' })).toEqual([]);
  });

  it('revokes once, reports a repeat as already revoked keeping the first time, and tells an unknown id apart', () => {
    repo.create(token('tok_a'));
    const first = repo.revoke('tok_a', 5000);
    expect(first.outcome).toBe('revoked');
    const second = repo.revoke('tok_a', 9000);
    expect(second).toMatchObject({ outcome: 'already_revoked', record: { revokedAtMs: 5000 } });
    expect(repo.revoke('tok_missing', 9000)).toEqual({ outcome: 'not_found' });
  });

  it('records last use for a batch of tokens and never moves it backwards', () => {
    repo.create(token('tok_a'));
    repo.create(token('tok_b'));
    repo.touchLastUsed([
      { id: 'tok_a', atMs: 7000 },
      { id: 'tok_b', atMs: 8000 },
      { id: 'tok_unknown', atMs: 8000 },
    ]);
    repo.touchLastUsed([{ id: 'tok_a', atMs: 6000 }]);
    repo.touchLastUsed([]);
    expect(repo.findById('tok_a')?.lastUsedAtMs).toBe(7000);
    expect(repo.findById('tok_b')?.lastUsedAtMs).toBe(8000);
  });
});
