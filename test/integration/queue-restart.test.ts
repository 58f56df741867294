/**
 * The durable queue wired into the server: what was acknowledged while the backend was down is
 * still queued after a graceful restart, and the restarted server forwards it, in order, before
 * anything new.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compress, uncompress } from 'snappyjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readQueueStatus } from '../../src/queue/sqlite-queue.js';
import { type Running, startServer } from '../../src/server.js';
import { closeDatabase, openDatabase } from '../../src/state/db.js';
import { HttpSink, eventually, freePort } from '../support/forward-helpers.js';
import { reference } from '../support/reference-codec.js';

const TOKEN = 'trib_test-token-queue-restart';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

let dir: string;
let running: Running | undefined;
let sink: HttpSink | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-queue-restart-'));
});

afterEach(async () => {
  await running?.close();
  await sink?.close();
  running = undefined;
  sink = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(backendPort: number, synchronous: 'normal' | 'full'): string {
  const path = join(dir, 'tributary.yml');
  writeFileSync(
    path,
    `server:
  listen_address: 127.0.0.1:0
  shutdown_timeout: 200ms
data_dir: ${join(dir, 'data')}
queue:
  synchronous: ${synchronous}
tokens:
  - {tenant: team-a, clusters: [edge-a], token_sha256: ${sha(TOKEN)}}
backends:
  - name: central
    url: http://127.0.0.1:${backendPort}/api/v1/write
    shards: 2
    min_backoff: 10ms
    max_backoff: 50ms
`,
  );
  return path;
}

function request(i: number): Buffer {
  const timeseries = [{ labels: [{ name: '__name__', value: 'restart_test' }, { name: 'cluster', value: 'edge-a' }], samples: [{ value: i, timestamp: 1_700_000_000_000 + i }] }];
  return Buffer.from(compress(reference.encode({ timeseries })));
}

async function push(address: string, payload: Buffer): Promise<number> {
  const res = await fetch(`http://${address}/api/v1/write`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${TOKEN}` },
    body: payload,
  });
  await res.arrayBuffer();
  return res.status;
}

function queuedItems(): number {
  const db = openDatabase(join(dir, 'data'));
  try {
    return readQueueStatus(db).reduce((n, r) => n + r.items, 0);
  } finally {
    closeDatabase(db);
  }
}

describe('durable queue in the server', () => {
  it('keeps what was acknowledged during an outage across a restart and forwards it in order', async () => {
    const port = await freePort();
    const config = writeConfig(port, 'normal');
    running = await startServer(config, pino({ level: 'silent' }));
    for (let i = 1; i <= 20; i++) expect(await push(running.address, request(i))).toBe(204);
    const metrics = await (await fetch(`http://${running.address}/metrics`)).text();
    expect(metrics).toMatch(/tributary_queue_items\{backend="central"\} 20/);
    await running.close();
    running = undefined;
    expect(queuedItems()).toBe(20);

    // The backend comes up on the same address; the restarted tributary (now fsyncing every commit) replays.
    sink = await HttpSink.start({ port });
    running = await startServer(writeConfig(port, 'full'), pino({ level: 'silent' }));
    expect(await push(running.address, request(21))).toBe(204);
    const values = () =>
      sink!.accepted().flatMap((r) => reference.decode(Buffer.from(uncompress(r.body))).timeseries.flatMap((ts) => ts.samples.map((s) => s.value)));
    await eventually(() => values().length >= 21, 'all 21 samples at the backend', 10_000);
    expect(values()).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    await running.close();
    running = undefined;
    expect(queuedItems()).toBe(0);
  });
});
