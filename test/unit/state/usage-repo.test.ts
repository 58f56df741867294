import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, type Database, openDatabase } from '../../../src/state/db.js';
import { UsageRepo } from '../../../src/state/usage-repo.js';
import type { UsageRow } from '../../../src/usage/types.js';
import { usageRow } from '../../support/usage-rows.js';

const HOUR = 3_600_000;
/** 2024-05-01T00:00:00Z: a fixed, hour-aligned origin. */
const T0 = Date.UTC(2024, 4, 1);

let dir: string;
let db: Database;
let repo: UsageRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-usage-repo-'));
  db = openDatabase(dir);
  repo = new UsageRepo(db);
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const row = (fields: Partial<UsageRow> = {}): UsageRow => usageRow({ hourStartMs: T0, ...fields });

describe('UsageRepo.add', () => {
  it('adds every counter to the stored totals across calls', () => {
    repo.add([row({ acceptedSamples: 100, rejectedSamples: 1, acceptedSeries: 10, rejectedSeries: 2, requests: 3, rejectedRequests: 1 })]);
    repo.add([row({ acceptedSamples: 50, rejectedSamples: 4, acceptedSeries: 5, rejectedSeries: 0, requests: 2, rejectedRequests: 0 })]);
    expect(repo.query({})).toEqual([
      row({ acceptedSamples: 150, rejectedSamples: 5, acceptedSeries: 15, rejectedSeries: 2, requests: 5, rejectedRequests: 1 }),
    ]);
  });

  it('adds rows of one call that share a key, and keeps different keys apart', () => {
    repo.add([
      row({ requests: 1 }),
      row({ requests: 2 }),
      row({ cluster: 'eu-2', requests: 4 }),
      row({ tenant: 'globex', requests: 8 }),
      row({ hourStartMs: T0 + HOUR, requests: 16 }),
    ]);
    expect(repo.query({}).map((r) => [r.tenant, r.cluster, r.hourStartMs - T0, r.requests])).toEqual([
      ['acme', 'eu-1', 0, 3],
      ['acme', 'eu-2', 0, 4],
      ['globex', 'eu-1', 0, 8],
      ['acme', 'eu-1', HOUR, 16],
    ]);
  });

  it('stores the hour in seconds since the epoch', () => {
    repo.add([row({ hourStartMs: T0 + 2 * HOUR, requests: 1 })]);
    expect(db.prepare('SELECT hour FROM usage').pluck().all()).toEqual([(T0 + 2 * HOUR) / 1000]);
  });

  it('files a time inside an hour under that hour', () => {
    repo.add([row({ hourStartMs: T0 + HOUR + 59 * 60_000, requests: 1 })]);
    expect(repo.query({}).map((r) => r.hourStartMs)).toEqual([T0 + HOUR]);
  });

  it('keeps the cluster "" as its own row', () => {
    repo.add([row({ cluster: '', rejectedRequests: 1 }), row({ requests: 1 })]);
    expect(repo.query({}).map((r) => [r.cluster, r.requests, r.rejectedRequests])).toEqual([
      ['', 0, 1],
      ['eu-1', 1, 0],
    ]);
  });

  it('writes all rows or none (one transaction)', () => {
    // A fractional count cannot be stored in the STRICT INTEGER column: the second row fails.
    expect(() => repo.add([row({ requests: 1 }), row({ cluster: 'eu-2', requests: 0.5 })])).toThrow(/INTEGER/);
    expect(repo.query({})).toEqual([]);
  });

  it.each([
    { name: 'unknown, then unknown', stored: undefined, added: undefined, expected: undefined },
    { name: 'unknown, then known', stored: undefined, added: 40, expected: 40 },
    { name: 'known, then unknown', stored: 40, added: undefined, expected: 40 },
    { name: 'known, then smaller', stored: 40, added: 30, expected: 40 },
    { name: 'known, then larger', stored: 40, added: 50, expected: 50 },
    { name: 'zero, then unknown', stored: 0, added: undefined, expected: 0 },
  ])('keeps the maximum of active_series, NULL-safe: $name', ({ stored, added, expected }) => {
    repo.add([row({ activeSeries: stored, requests: 1 })]);
    repo.add([row({ activeSeries: added, requests: 1 })]);
    expect(repo.query({})).toEqual([row({ activeSeries: expected, requests: 2 })]);
  });
});

describe('UsageRepo.query', () => {
  beforeEach(() => {
    // Hours T0, T0+1h, T0+2h for acme; T0+1h for globex.
    repo.add([
      row({ hourStartMs: T0, requests: 1 }),
      row({ hourStartMs: T0 + HOUR, requests: 2 }),
      row({ hourStartMs: T0 + 2 * HOUR, requests: 3 }),
      row({ tenant: 'globex', hourStartMs: T0 + HOUR, requests: 4 }),
    ]);
  });

  const keys = (rows: readonly UsageRow[]): string[] => rows.map((r) => `${r.tenant}@${(r.hourStartMs - T0) / HOUR}h`);

  it.each([
    { name: 'no filter', filter: {}, expected: ['acme@0h', 'acme@1h', 'globex@1h', 'acme@2h'] },
    { name: 'one tenant', filter: { tenant: 'acme' }, expected: ['acme@0h', 'acme@1h', 'acme@2h'] },
    { name: 'an unknown tenant', filter: { tenant: 'initech' }, expected: [] },
    // since: the hour must END after it.
    { name: 'since the end of the first hour', filter: { sinceMs: T0 + HOUR }, expected: ['acme@1h', 'globex@1h', 'acme@2h'] },
    { name: 'since 1 ms before the end of the first hour', filter: { sinceMs: T0 + HOUR - 1 }, expected: ['acme@0h', 'acme@1h', 'globex@1h', 'acme@2h'] },
    { name: 'since mid-hour', filter: { sinceMs: T0 + 2.5 * HOUR }, expected: ['acme@2h'] },
    { name: 'since the end of the last hour', filter: { sinceMs: T0 + 3 * HOUR }, expected: [] },
    // until: the hour must START before it.
    { name: 'until the start of the last hour', filter: { untilMs: T0 + 2 * HOUR }, expected: ['acme@0h', 'acme@1h', 'globex@1h'] },
    { name: 'until 1 ms after the start of the last hour', filter: { untilMs: T0 + 2 * HOUR + 1 }, expected: ['acme@0h', 'acme@1h', 'globex@1h', 'acme@2h'] },
    { name: 'until the start of the first hour', filter: { untilMs: T0 }, expected: [] },
    { name: 'one hour exactly', filter: { sinceMs: T0 + HOUR, untilMs: T0 + 2 * HOUR }, expected: ['acme@1h', 'globex@1h'] },
    { name: 'a tenant and a range', filter: { tenant: 'globex', sinceMs: T0, untilMs: T0 + HOUR }, expected: [] },
    { name: 'a tenant and an overlapping range', filter: { tenant: 'globex', sinceMs: T0 + 90 * 60_000, untilMs: T0 + 91 * 60_000 }, expected: ['globex@1h'] },
  ])('filters: $name', ({ filter, expected }) => {
    expect(keys(repo.query(filter))).toEqual(expected);
  });

  it('returns the stored totals with the row', () => {
    expect(repo.query({ tenant: 'globex' })).toEqual([row({ tenant: 'globex', hourStartMs: T0 + HOUR, requests: 4 })]);
  });
});

describe('UsageRepo.pruneBefore', () => {
  beforeEach(() => {
    repo.add([0, 1, 2, 3].map((h) => row({ hourStartMs: T0 + h * HOUR, requests: h + 1 })));
  });

  it.each([
    { name: 'before any hour ended', cutoffMs: T0 + HOUR - 1, deleted: 0, left: [1, 2, 3, 4] },
    { name: 'when the first hour just ended', cutoffMs: T0 + HOUR, deleted: 1, left: [2, 3, 4] },
    { name: 'mid-way through the third hour', cutoffMs: T0 + 2.5 * HOUR, deleted: 2, left: [3, 4] },
    { name: 'after every hour ended', cutoffMs: T0 + 4 * HOUR, deleted: 4, left: [] },
  ])('deletes the hours that ended $name', ({ cutoffMs, deleted, left }) => {
    expect(repo.pruneBefore(cutoffMs)).toBe(deleted);
    expect(repo.query({}).map((r) => r.requests)).toEqual(left);
  });

  it('leaves what query({ sinceMs: cutoff }) returns unchanged', () => {
    const cutoffMs = T0 + 2 * HOUR + 1;
    const before = repo.query({ sinceMs: cutoffMs });
    repo.pruneBefore(cutoffMs);
    expect(repo.query({})).toEqual(before);
  });

  it('uses the usage_hour index', () => {
    const plan = db.prepare<[number], { detail: string }>('EXPLAIN QUERY PLAN DELETE FROM usage WHERE hour <= ?').all(0);
    expect(plan.map((p) => p.detail).join('\n')).toMatch(/usage_hour/);
  });
});
