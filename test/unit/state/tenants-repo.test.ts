import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, type Database, openDatabase } from '../../../src/state/db.js';
import { canonicalOverridesJson, isLimitField, LIMIT_FIELDS, TenantsRepo } from '../../../src/state/tenants-repo.js';

let dir: string;
let db: Database;
let repo: TenantsRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-tenants-'));
  db = openDatabase(dir);
  repo = new TenantsRepo(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const rawLimits = (name: string): unknown => db.prepare<[string], { limits: string }>('SELECT limits FROM tenants WHERE name = ?').get(name)?.limits;

describe('TenantsRepo', () => {
  it('creates a tenant and reads it back', () => {
    const result = repo.create('team-a', 'the A team', 1000);
    const expected = { name: 'team-a', description: 'the A team', createdAtMs: 1000, updatedAtMs: 1000, disabledAtMs: undefined, overrides: {} };
    expect(result).toEqual({ outcome: 'created', record: expected });
    expect(repo.get('team-a')).toEqual(expected);
    expect(repo.has('team-a')).toBe(true);
    expect(rawLimits('team-a')).toBe('{}');
  });

  it('reports an existing tenant on create and leaves it unchanged', () => {
    repo.create('team-a', 'first', 1000);
    expect(repo.create('team-a', 'second', 2000)).toEqual({
      outcome: 'already_exists',
      record: expect.objectContaining({ name: 'team-a', description: 'first', createdAtMs: 1000 }),
    });
  });

  it('returns undefined (and has() false) for a tenant without a row', () => {
    expect(repo.get('nobody')).toBeUndefined();
    expect(repo.has('nobody')).toBe(false);
  });

  it('lists tenants by name', () => {
    for (const name of ['zeta', 'alpha', 'mid']) repo.create(name, undefined, 1000);
    expect(repo.list().map((r) => r.name)).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('ensure() inserts a missing tenant once and keeps an existing one', () => {
    expect(repo.ensure('team-a', 1000)).toEqual({
      name: 'team-a',
      description: undefined,
      createdAtMs: 1000,
      updatedAtMs: 1000,
      disabledAtMs: undefined,
      overrides: {},
    });
    repo.setDisabled('team-a', 1500, 1500);
    expect(repo.ensure('team-a', 2000)).toMatchObject({ createdAtMs: 1000, disabledAtMs: 1500 });
    expect(repo.list()).toHaveLength(1);
  });

  it('disables and enables idempotently, keeping the first disable time', () => {
    repo.create('team-a', undefined, 1000);
    expect(repo.setDisabled('team-a', 2000, 2000)).toMatchObject({ outcome: 'changed', record: { disabledAtMs: 2000, updatedAtMs: 2000 } });
    expect(repo.setDisabled('team-a', 3000, 3000)).toMatchObject({ outcome: 'unchanged', record: { disabledAtMs: 2000, updatedAtMs: 2000 } });
    expect(repo.setDisabled('team-a', undefined, 4000)).toMatchObject({ outcome: 'changed', record: { disabledAtMs: undefined, updatedAtMs: 4000 } });
    expect(repo.setDisabled('team-a', undefined, 5000)).toMatchObject({ outcome: 'unchanged', record: { updatedAtMs: 4000 } });
  });

  it.each([
    { name: 'setDisabled', write: (r: TenantsRepo) => r.setDisabled('nobody', 1000, 1000) },
    { name: 'setOverrides', write: (r: TenantsRepo) => r.setOverrides('nobody', { max_active_series: 5 }, 1000) },
  ])('$name on a tenant without a row is not_found and inserts nothing', ({ write }) => {
    expect(write(repo)).toEqual({ outcome: 'not_found' });
    expect(repo.list()).toEqual([]);
  });

  it('replaces the overrides and stores them canonically (field order, no undefined)', () => {
    repo.create('team-a', undefined, 1000);
    const set = repo.setOverrides('team-a', { max_active_series: 100, ingestion_rate: 50, future_grace: undefined }, 2000);
    expect(set).toMatchObject({ outcome: 'changed', record: { overrides: { ingestion_rate: 50, max_active_series: 100 }, updatedAtMs: 2000 } });
    expect(rawLimits('team-a')).toBe('{"ingestion_rate":50,"max_active_series":100}');

    expect(repo.setOverrides('team-a', { ingestion_rate: 50, max_active_series: 100 }, 3000)).toMatchObject({ outcome: 'unchanged', record: { updatedAtMs: 2000 } });

    expect(repo.setOverrides('team-a', { active_series_window: 600_000 }, 4000)).toMatchObject({
      outcome: 'changed',
      record: { overrides: { active_series_window: 600_000 } },
    });
    expect(repo.setOverrides('team-a', {}, 5000)).toMatchObject({ outcome: 'changed', record: { overrides: {} } });
    expect(rawLimits('team-a')).toBe('{}');
  });

  it.each([
    { limits: 'not json', why: /tenant "bad" has a malformed limits column \(not JSON\)/ },
    { limits: '[1,2]', why: /tenant "bad" .*expected a JSON object/ },
    { limits: '{"max_active_series":"lots"}', why: /tenant "bad" .*max_active_series must be a number >= 0/ },
    { limits: '{"max_active_series":-1}', why: /max_active_series must be a number >= 0/ },
    { limits: '{"bogus":1}', why: /tenant "bad" .*unknown field "bogus"/ },
    { limits: '{"rate_limit_status":500}', why: /rate_limit_status must be 429 or 503/ },
  ])('throws an error naming the tenant for a malformed limits column: $limits', ({ limits, why }) => {
    db.prepare("INSERT INTO tenants (name, created_at, updated_at, limits) VALUES ('bad', 1, 1, ?)").run(limits);
    expect(() => repo.get('bad')).toThrow(why);
    expect(() => repo.list()).toThrow(why);
    expect(repo.has('bad')).toBe(true);
    // A reset with setOverrides needs no parse of the old value.
    expect(repo.setOverrides('bad', {}, 2)).toMatchObject({ outcome: 'changed', record: { overrides: {} } });
  });

  it('names every limit field, and only those', () => {
    expect(LIMIT_FIELDS).toContain('ingestion_rate');
    expect(LIMIT_FIELDS).toHaveLength(19);
    expect(isLimitField('max_sample_age')).toBe(true);
    expect(isLimitField('constructor')).toBe(false);
    expect(canonicalOverridesJson({ max_sample_age: 1, ingestion_rate: 2 })).toBe('{"ingestion_rate":2,"max_sample_age":1}');
  });
});
