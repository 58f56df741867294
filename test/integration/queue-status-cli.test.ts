/**
 * `tributary queue status` on a data directory holding queued items: table and JSON, with
 * --data-dir and with --config (configured backends listed even when empty, unconfigured ones
 * flagged), while another connection (a running server) has the database open.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAge, formatBytes } from '../../src/cli/queue.js';
import type { QueueItemInput } from '../../src/queue/queue.js';
import { SqliteQueue } from '../../src/queue/sqlite-queue.js';
import { closeDatabase, type Database, openDatabase } from '../../src/state/db.js';
import { runQueueCli } from '../support/run-cli.js';

const ROOT = join(import.meta.dirname, '../..');

let dir: string;
let dataDir: string;
let db: Database | undefined;
let queue: SqliteQueue | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-queue-cli-'));
  dataDir = join(dir, 'data');
});

afterEach(async () => {
  await queue?.close();
  if (db !== undefined) closeDatabase(db);
  queue = undefined;
  db = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function item(backend: string, shard: number, bytes: number, samples: number, histograms = 0): QueueItemInput {
  return { backend, shard, payload: Buffer.alloc(bytes), samples, histograms, exemplars: 0, metadata: 0, tenant: 't' };
}

/** Queue items as a server would, and keep the connection open (the server is "running"). */
async function fill(enqueuedAtMs: number): Promise<void> {
  db = openDatabase(dataDir);
  queue = new SqliteQueue({
    db,
    backends: [
      { name: 'central', shards: 2, maxQueueBytes: 1 << 20 },
      { name: 'old', shards: 1, maxQueueBytes: 1 << 20 },
    ],
    now: () => enqueuedAtMs,
  });
  await queue.append([item('central', 0, 2048, 100), item('central', 0, 1024, 50, 5), item('old', 0, 10, 1)]);
}

function writeConfig(): string {
  const path = join(dir, 'tributary.yml');
  writeFileSync(
    path,
    `data_dir: ${dataDir}
backends:
  - name: central
    url: http://127.0.0.1:9/api/v1/write
    shards: 2
    max_queue_bytes: 1MiB
  - name: mimir
    url: http://127.0.0.1:9/api/v1/push
    shards: 1
`,
  );
  return path;
}

describe('tributary queue status', () => {
  it('prints a table per backend and shard from --data-dir while the database is open elsewhere', async () => {
    await fill(Date.now() - 125_000);
    const res = await runQueueCli(['queue', 'status', '--data-dir', dataDir]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^BACKEND\s+SHARD\s+ITEMS\s+BYTES\s+SAMPLES\s+HISTOGRAMS\s+OLDEST/);
    expect(lines[1]).toMatch(/^central\s+\*\s+2\s+3\.0KiB\s+150\s+5\s+2m0[45]s$/);
    expect(lines[2]).toMatch(/^central\s+0\s+2\s+3\.0KiB\s+150\s+5\s+2m0[45]s$/);
    expect(lines[3]).toMatch(/^old\s+\*\s+1\s+10B\s+1\s+0\s+2m0[45]s$/);
    expect(lines[4]).toMatch(/^old\s+0\s+1\s+10B\s+1\s+0\s+2m0[45]s$/);
    expect(lines).toHaveLength(5);
  });

  it('with --config lists every configured backend and shard, flags unconfigured ones, and shows the cap', async () => {
    await fill(Date.now() - 5000);
    const res = await runQueueCli(['queue', 'status', '--config', writeConfig()]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^central\s+\*\s+2\s+3\.0KiB\s+150\s+5\s+\d+s\s+0\.3% of max_queue_bytes 1\.0MiB$/);
    expect(lines[2]).toMatch(/^central\s+0\s+2\s/);
    expect(lines[3]).toMatch(/^central\s+1\s+0\s+0B\s+0\s+0\s+-$/);
    expect(lines[4]).toMatch(/^mimir\s+\*\s+0\s+0B\s+0\s+0\s+-\s+0\.0% of max_queue_bytes 256\.0MiB$/);
    expect(lines[5]).toMatch(/^mimir\s+0\s+0\s/);
    expect(lines[6]).toMatch(/^old\s+\*\s+1\s+10B\s+1\s+0\s+\d+s\s+not configured/);
  });

  it('prints JSON with exact numbers', async () => {
    const oldest = Date.now() - 60_000;
    await fill(oldest);
    const res = await runQueueCli(['queue', 'status', '--config', writeConfig(), '--json']);
    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout) as { data_dir: string; backends: Array<Record<string, unknown>> };
    expect(parsed.data_dir).toBe(dataDir);
    expect(parsed.backends.map((b) => [b.backend, b.configured])).toEqual([
      ['central', true],
      ['mimir', true],
      ['old', false],
    ]);
    const central = parsed.backends[0]!;
    expect(central).toMatchObject({
      max_queue_bytes: 1 << 20,
      items: 2,
      bytes: 3072,
      samples: 150,
      histograms: 5,
      oldest_enqueued_at: new Date(oldest).toISOString(),
    });
    expect(central.oldest_age_seconds).toBeGreaterThanOrEqual(60);
    expect(central.shards).toEqual([
      expect.objectContaining({ shard: 0, items: 2, bytes: 3072 }),
      { shard: 1, items: 0, bytes: 0, samples: 0, histograms: 0, oldest_enqueued_at: null, oldest_age_seconds: null },
    ]);
    expect(parsed.backends[2]).toMatchObject({ backend: 'old', configured: false, max_queue_bytes: null, items: 1 });
  });

  it('says so when nothing is queued (JSON: an empty list)', async () => {
    closeDatabase(openDatabase(dataDir));
    const table = await runQueueCli(['queue', 'status', '--data-dir', dataDir]);
    expect(table).toMatchObject({ code: 0, stdout: '' });
    expect(table.stderr).toMatch(/^Nothing is queued in /);
    const json = await runQueueCli(['queue', 'status', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ data_dir: dataDir, backends: [] });
  });

  it('exits 1 without a database (and does not create one), 2 on usage and config errors', async () => {
    const missing = await runQueueCli(['queue', 'status', '--data-dir', dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no state database at .*tributary\.db/);
    expect((await runQueueCli(['queue', 'status', '--data-dir', dataDir])).code).toBe(1);

    const both = await runQueueCli(['queue', 'status', '--data-dir', dataDir, '--config', writeConfig()]);
    expect(both.code).toBe(2);
    const badConfig = join(dir, 'bad.yml');
    writeFileSync(badConfig, 'backends: []\n');
    const bad = await runQueueCli(['queue', 'status', '--config', badConfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/backends/);
    expect((await runQueueCli(['queue', 'status', '--bogus'])).code).toBe(2);
  });

  it('is registered in the tributary binary', async () => {
    await fill(Date.now());
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', 'queue', 'status', '--data-dir', dataDir, '--json'], {
      cwd: ROOT,
    });
    expect((JSON.parse(stdout) as { backends: unknown[] }).backends).toHaveLength(2);
  });
});

describe('queue status formatting', () => {
  it('formats ages and sizes compactly', () => {
    expect([0, 59, 60, 185, 3600, 7620, 86_400 + 4 * 3600].map(formatAge)).toEqual(['0s', '59s', '1m00s', '3m05s', '1h00m', '2h07m', '1d04h']);
    expect([0, 1023, 1024, 1536, 256 * 1024 * 1024].map(formatBytes)).toEqual(['0B', '1023B', '1.0KiB', '1.5KiB', '256.0MiB']);
  });
});
