/**
 * Guarantees 1 and 2 of issue 4 with a real process: a child appends to the durable queue as fast as
 * it can and prints each id once `append` resolved; it is SIGKILLed mid-run (twice, on the same data
 * directory). Every id it printed must be in the database, once, in order within its partition.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, openDatabase } from '../../src/state/db.js';

const CHILD = join(import.meta.dirname, '../support/queue-crash-child.ts');
const ROOT = join(import.meta.dirname, '../..');
/** Kill once the child acknowledged at least this many items (then after a random extra delay). */
const ACKS_BEFORE_KILL = 1500;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-queue-crash-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly acked: number[];
  readonly stderr: string;
  readonly signal: NodeJS.Signals | null;
}

/** Start the child, let it acknowledge items for a while, SIGKILL it mid-run. */
async function runAndKill(synchronous: 'normal' | 'full', firstId: number): Promise<Run> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, join(dir, 'data'), synchronous, String(firstId)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked: number[] = [];
  let partial = '';
  let stderr = '';
  let killTimer: NodeJS.Timeout | undefined;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) acked.push(Number(line));
    if (acked.length >= ACKS_BEFORE_KILL && killTimer === undefined) {
      // A random extra delay, so the kill lands anywhere in the append/commit cycle.
      killTimer = setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 50));
    }
  });
  const safety = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(safety);
  clearTimeout(killTimer);
  // A line cut by the kill was never fully written, so it was never an acknowledgement to count.
  return { acked, stderr, signal };
}

interface StoredRow {
  seq: number;
  shard: number;
  samples: number;
  payload: Buffer;
}

function readStored(): StoredRow[] {
  const db = openDatabase(join(dir, 'data'));
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    return db.prepare<[], StoredRow>('SELECT seq, shard, samples, payload FROM queue ORDER BY seq').all();
  } finally {
    closeDatabase(db);
  }
}

describe.each(['normal', 'full'] as const)('durable queue under SIGKILL (synchronous=%s)', (synchronous) => {
  it('keeps every acknowledged item, once, in order, across two crashes', async () => {
    const allAcked: number[] = [];
    let nextId = 1;
    for (let round = 0; round < 2; round++) {
      const run = await runAndKill(synchronous, nextId);
      expect(run.signal, `child ended on its own: ${run.stderr}`).toBe('SIGKILL');
      expect(run.acked.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);
      allAcked.push(...run.acked);

      const rows = readStored();
      const ids = rows.map((r) => r.samples);
      // The payload is the one appended for that id.
      for (const r of rows) expect(r.payload.readUInt32BE(0)).toBe(r.samples);
      // Never twice.
      expect(new Set(ids).size).toBe(ids.length);
      // Every acknowledged id is there (some unacknowledged ones may be too: committed, not yet printed).
      const stored = new Set(ids);
      const missing = allAcked.filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      // In order within each partition (ids were appended in increasing order).
      for (const shard of [0, 1]) {
        const inShard = rows.filter((r) => r.shard === shard).map((r) => r.samples);
        expect(inShard).toEqual([...inShard].sort((a, b) => a - b));
        expect(inShard.every((id) => id % 2 === shard)).toBe(true);
      }
      // seq follows id order across both rounds (the second run continued the first one's seq).
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      nextId = Math.max(...ids) + 1;
    }
  });
});
