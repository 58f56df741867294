import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, type Database, openDatabase } from '../../src/state/db.js';
import { UsageRepo } from '../../src/state/usage-repo.js';
import type { UsageRow } from '../../src/usage/types.js';
import { UsageRecorder } from '../../src/usage/usage-recorder.js';
import { usageDelta, usageRow } from '../support/usage-rows.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 2024-05-01T00:00:00Z: a fixed, hour-aligned origin. */
const T0 = Date.UTC(2024, 4, 1);
const RETENTION = 7 * DAY;

let dir: string;
let db: Database;
let repo: UsageRepo;
let clock: number;
let recorder: UsageRecorder;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-usage-recorder-'));
  db = openDatabase(dir);
  repo = new UsageRepo(db);
  clock = T0 + 10 * 60_000;
  recorder = new UsageRecorder({ repo, retentionMs: RETENTION, now: () => clock });
});

afterEach(() => {
  closeDatabase(db);
  rmSync(dir, { recursive: true, force: true });
});

const delta = usageDelta;

const rowAt = (fields: Partial<UsageRow> = {}): UsageRow => usageRow({ hourStartMs: T0, ...fields });

/** (tenant, cluster, hour offset from T0, requests) of what the database holds. */
const stored = (): [string, string, number, number][] => repo.query({}).map((r) => [r.tenant, r.cluster, (r.hourStartMs - T0) / HOUR, r.requests]);

describe('UsageRecorder', () => {
  it('writes the sums of what was recorded, one row per (tenant, cluster, hour)', () => {
    const recorded = [
      delta({ acceptedSamples: 100, acceptedSeries: 10, requests: 1 }),
      delta({ acceptedSamples: 40, rejectedSamples: 7, acceptedSeries: 4, rejectedSeries: 1, requests: 1 }),
      delta({ rejectedSamples: 30, rejectedSeries: 3, requests: 1, rejectedRequests: 1 }),
    ];
    for (const d of recorded) recorder.record('acme', 'eu-1', d, clock);
    recorder.record('acme', 'eu-2', delta({ acceptedSamples: 5, requests: 1 }), clock);
    recorder.record('globex', '', delta({ requests: 1, rejectedRequests: 1 }), clock);

    expect(recorder.flush()).toBe(3);
    expect(repo.query({})).toEqual([
      rowAt({ acceptedSamples: 140, rejectedSamples: 37, acceptedSeries: 14, rejectedSeries: 4, requests: 3, rejectedRequests: 1 }),
      rowAt({ cluster: 'eu-2', acceptedSamples: 5, requests: 1 }),
      rowAt({ tenant: 'globex', cluster: '', requests: 1, rejectedRequests: 1 }),
    ]);
  });

  it('adds each flush to the stored totals and writes nothing twice', () => {
    recorder.record('acme', 'eu-1', delta({ requests: 2 }), clock);
    expect(recorder.flush()).toBe(1);
    recorder.record('acme', 'eu-1', delta({ requests: 3 }), clock);
    expect(recorder.flush()).toBe(1);
    expect(recorder.flush()).toBe(0);
    expect(stored()).toEqual([['acme', 'eu-1', 0, 5]]);
  });

  it('files records on either side of an hour boundary under their own hours, in one flush', () => {
    recorder.record('acme', 'eu-1', delta({ requests: 1 }), T0 + HOUR - 1);
    recorder.record('acme', 'eu-1', delta({ requests: 10 }), T0 + HOUR);
    // A late caller whose clock is still in the previous hour: not moved into the new one.
    recorder.record('acme', 'eu-1', delta({ requests: 100 }), T0 + HOUR - 5);
    clock = T0 + HOUR + 1000;
    expect(recorder.flush()).toBe(2);
    expect(stored()).toEqual([
      ['acme', 'eu-1', 0, 101],
      ['acme', 'eu-1', 1, 10],
    ]);
  });

  it('keeps counting the current hour after a flush, and a past hour that is recorded into again', () => {
    recorder.record('acme', 'eu-1', delta({ requests: 1 }), T0 + HOUR - 1);
    recorder.record('acme', 'eu-1', delta({ requests: 2 }), T0 + HOUR);
    clock = T0 + HOUR;
    recorder.flush();
    recorder.record('acme', 'eu-1', delta({ requests: 4 }), T0 + HOUR + 1);
    recorder.record('acme', 'eu-1', delta({ requests: 8 }), T0 + HOUR - 2);
    expect(recorder.flush()).toBe(2);
    expect(stored()).toEqual([
      ['acme', 'eu-1', 0, 9],
      ['acme', 'eu-1', 1, 6],
    ]);
  });

  it('keeps the largest active series count of each hour, separately per hour', () => {
    recorder.noteActiveSeries('acme', 'eu-1', 500, T0 + 1);
    recorder.noteActiveSeries('acme', 'eu-1', 800, T0 + 2);
    recorder.noteActiveSeries('acme', 'eu-1', 600, T0 + 3);
    recorder.noteActiveSeries('acme', 'eu-1', 300, T0 + HOUR);
    recorder.record('acme', 'eu-2', delta({ requests: 1 }), T0);
    recorder.flush();
    expect(repo.query({}).map((r) => [r.cluster, (r.hourStartMs - T0) / HOUR, r.activeSeries])).toEqual([
      ['eu-1', 0, 800],
      ['eu-2', 0, undefined],
      ['eu-1', 1, 300],
    ]);
  });

  it('keeps the stored active series maximum when a later flush of the same hour saw fewer', () => {
    recorder.noteActiveSeries('acme', 'eu-1', 800, clock);
    recorder.flush();
    recorder.noteActiveSeries('acme', 'eu-1', 200, clock);
    recorder.flush();
    expect(repo.query({}).map((r) => r.activeSeries)).toEqual([800]);
  });

  it('keeps the counts when the write fails, and writes them with the next flush', () => {
    let failures = 1;
    const flaky = new UsageRepo(db);
    const realAdd = flaky.add.bind(flaky);
    flaky.add = (rows) => {
      if (failures-- > 0) throw new Error('disk I/O error');
      realAdd(rows);
    };
    const r = new UsageRecorder({ repo: flaky, retentionMs: RETENTION, now: () => clock });
    r.record('acme', 'eu-1', delta({ acceptedSamples: 10, requests: 1 }), clock);
    r.noteActiveSeries('acme', 'eu-1', 70, clock);
    expect(() => r.flush()).toThrow('disk I/O error');
    expect(stored()).toEqual([]);

    r.record('acme', 'eu-1', delta({ acceptedSamples: 5, requests: 1 }), clock);
    expect(r.flush()).toBe(1);
    expect(repo.query({})).toEqual([rowAt({ acceptedSamples: 15, requests: 2, activeSeries: 70 })]);
  });

  it('keeps every count when the database refuses one row mid-transaction, and writes them all later', () => {
    // A trigger that fails the insert of the second row: the first row's upsert is rolled back too.
    db.exec(`CREATE TEMP TRIGGER refuse_eu2 BEFORE INSERT ON usage WHEN NEW.cluster = 'eu-2' BEGIN SELECT RAISE(ABORT, 'refused eu-2'); END`);
    recorder.record('acme', 'eu-1', delta({ requests: 1 }), clock);
    recorder.record('acme', 'eu-2', delta({ requests: 2 }), clock);
    expect(() => recorder.flush()).toThrow('refused eu-2');
    expect(stored()).toEqual([]);

    db.exec('DROP TRIGGER refuse_eu2');
    recorder.record('acme', 'eu-2', delta({ requests: 4 }), clock);
    expect(recorder.flush()).toBe(2);
    expect(stored()).toEqual([
      ['acme', 'eu-1', 0, 1],
      ['acme', 'eu-2', 0, 6],
    ]);
  });

  it('rethrows when the database is closed', () => {
    recorder.record('acme', 'eu-1', delta({ requests: 3 }), clock);
    closeDatabase(db);
    expect(() => recorder.flush()).toThrow(/not open/);
    expect(() => recorder.query({})).toThrow(/not open/);
    db = openDatabase(dir);
  });

  it('includes the pending counts in query, by flushing them first', () => {
    recorder.record('acme', 'eu-1', delta({ requests: 1 }), clock);
    recorder.flush();
    recorder.record('acme', 'eu-1', delta({ requests: 2 }), clock);
    recorder.record('globex', 'us-1', delta({ requests: 4 }), clock);
    expect(recorder.query({ tenant: 'acme' })).toEqual([rowAt({ requests: 3 })]);
    expect(stored()).toEqual([
      ['acme', 'eu-1', 0, 3],
      ['globex', 'us-1', 0, 4],
    ]);
  });

  it('prunes rows older than the retention on the first flush, then at most once an hour', () => {
    const oldHour = T0 - RETENTION - 2 * HOUR;
    repo.add([rowAt({ hourStartMs: oldHour, requests: 1 })]);
    recorder.flush();
    expect(stored()).toEqual([]);

    // Within the hour after that prune, an old row survives a flush...
    repo.add([rowAt({ hourStartMs: oldHour, requests: 1 })]);
    clock += HOUR - 1;
    recorder.flush();
    expect(stored()).toEqual([['acme', 'eu-1', (oldHour - T0) / HOUR, 1]]);

    // ...and is pruned once an hour has passed.
    clock += 1;
    recorder.flush();
    expect(stored()).toEqual([]);
  });

  it('prunes by the retention: an hour that ended within it stays', () => {
    // clock = T0 + 10 min; cutoff = clock - RETENTION. The hour ending at T0 - RETENTION + 1h ends after the cutoff.
    const kept = T0 - RETENTION;
    const dropped = T0 - RETENTION - HOUR;
    repo.add([rowAt({ hourStartMs: kept, requests: 1 }), rowAt({ hourStartMs: dropped, requests: 2 })]);
    recorder.flush();
    expect(stored()).toEqual([['acme', 'eu-1', (kept - T0) / HOUR, 1]]);
  });
});
