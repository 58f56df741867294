/**
 * `tributary queue status`: what is waiting in the durable queue, per backend and per shard (items,
 * bytes, samples, age of the oldest item). It reads the state database only (the covering index,
 * not the payloads), so it is cheap and safe while a server runs: WAL lets it read beside the
 * server's writes, and it sees everything committed, i.e. everything a sender got a 2xx for.
 *
 * Exit codes follow DESIGN.md and `tributary token`: 0 ok, 1 runtime failure (no database, cannot
 * open it), 2 usage or config error.
 */
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readQueueStatus, type StoredPartitionStatus } from '../queue/sqlite-queue.js';
import { DB_FILE_NAME } from '../state/db.js';
import { withDatabaseIn } from './state.js';
import { formatTable, outputOf } from './output.js';
import { tributaryExitOverride } from './token.js';

interface StatusOptions {
  readonly dataDir: string;
  readonly config?: string;
  readonly json?: boolean;
}

/** Add `queue status` to `program` (same error contract as `registerTokenCommands`). */
export function registerQueueCommands(program: Command): void {
  const queue = program
    .command('queue')
    .description('inspect the durable queue of batches waiting to be forwarded')
    .exitOverride(tributaryExitOverride);

  queue
    .command('status')
    .description('per backend and shard: queued batches, bytes, samples and the age of the oldest; safe while the server runs')
    .exitOverride(tributaryExitOverride)
    .option('--data-dir <dir>', 'the state directory', './data')
    .addOption(new Option('--config <file>', "use this config file's data_dir, and list its backends even when empty").conflicts('dataDir'))
    .option('--json', 'print JSON instead of a table')
    .action((options: StatusOptions, command: Command) => queueStatus(options, command));
}

/** One backend's depth: a sum over its shards, and each shard. */
export interface BackendStatus {
  readonly backend: string;
  /** undefined when no config file was given (then nobody knows). */
  readonly configured: boolean | undefined;
  readonly maxQueueBytes: number | undefined;
  readonly total: ShardStatus;
  readonly shards: readonly ShardStatus[];
}

export interface ShardStatus {
  /** undefined for a backend's total. */
  readonly shard: number | undefined;
  readonly items: number;
  readonly bytes: number;
  readonly samples: number;
  readonly histograms: number;
  readonly oldestEnqueuedAtMs: number | undefined;
}

function queueStatus(options: StatusOptions, command: Command): void {
  const config = options.config === undefined ? undefined : loadConfigFile(options.config);
  const dataDir = config?.data_dir ?? options.dataDir;
  const rows = withDatabaseIn(dataDir, readQueueStatus, { mustExist: true });
  const backends = summarize(rows, config);
  const nowMs = Date.now();
  const io = outputOf(command);
  if (options.json === true) {
    io.out(`${JSON.stringify({ data_dir: dataDir, backends: backends.map((b) => backendJson(b, nowMs)) }, null, 2)}\n`);
    return;
  }
  if (backends.length === 0) {
    io.err(`Nothing is queued in ${join(dataDir, DB_FILE_NAME)}.\n`);
    return;
  }
  io.out(formatStatusTable(backends, nowMs));
}

/**
 * Group stored partitions by backend. With a config, every configured backend is listed (in config
 * order, with all its shards, empty ones included), then the unconfigured ones that still hold items.
 */
export function summarize(rows: readonly StoredPartitionStatus[], config: Pick<Config, 'backends'> | undefined): BackendStatus[] {
  const byBackend = new Map<string, StoredPartitionStatus[]>();
  for (const r of rows) {
    const list = byBackend.get(r.backend) ?? [];
    list.push(r);
    byBackend.set(r.backend, list);
  }
  const out: BackendStatus[] = [];
  for (const b of config?.backends ?? []) {
    const stored = byBackend.get(b.name) ?? [];
    byBackend.delete(b.name);
    const shardCount = Math.max(b.shards, ...stored.map((r) => r.shard + 1));
    const shards = Array.from({ length: shardCount }, (_, shard) => toShard(stored.find((r) => r.shard === shard), shard));
    out.push({ backend: b.name, configured: true, maxQueueBytes: b.max_queue_bytes, total: sum(shards), shards });
  }
  for (const [backend, stored] of [...byBackend].sort(([x], [y]) => x.localeCompare(y))) {
    const shards = stored.map((r) => toShard(r, r.shard));
    out.push({ backend, configured: config === undefined ? undefined : false, maxQueueBytes: undefined, total: sum(shards), shards });
  }
  return out;
}

function toShard(row: StoredPartitionStatus | undefined, shard: number): ShardStatus {
  return {
    shard,
    items: row?.items ?? 0,
    bytes: row?.bytes ?? 0,
    samples: row?.samples ?? 0,
    histograms: row?.histograms ?? 0,
    oldestEnqueuedAtMs: row?.oldestEnqueuedAtMs,
  };
}

function sum(shards: readonly ShardStatus[]): ShardStatus {
  let oldest: number | undefined;
  for (const s of shards) if (s.oldestEnqueuedAtMs !== undefined && (oldest === undefined || s.oldestEnqueuedAtMs < oldest)) oldest = s.oldestEnqueuedAtMs;
  return {
    shard: undefined,
    items: shards.reduce((n, s) => n + s.items, 0),
    bytes: shards.reduce((n, s) => n + s.bytes, 0),
    samples: shards.reduce((n, s) => n + s.samples, 0),
    histograms: shards.reduce((n, s) => n + s.histograms, 0),
    oldestEnqueuedAtMs: oldest,
  };
}

// ---- output ----

function shardJson(s: ShardStatus, nowMs: number): Record<string, unknown> {
  return {
    ...(s.shard === undefined ? {} : { shard: s.shard }),
    items: s.items,
    bytes: s.bytes,
    samples: s.samples,
    histograms: s.histograms,
    oldest_enqueued_at: s.oldestEnqueuedAtMs === undefined ? null : new Date(s.oldestEnqueuedAtMs).toISOString(),
    oldest_age_seconds: s.oldestEnqueuedAtMs === undefined ? null : ageSeconds(s.oldestEnqueuedAtMs, nowMs),
  };
}

function backendJson(b: BackendStatus, nowMs: number): Record<string, unknown> {
  return {
    backend: b.backend,
    configured: b.configured ?? null,
    max_queue_bytes: b.maxQueueBytes ?? null,
    ...shardJson(b.total, nowMs),
    shards: b.shards.map((s) => shardJson(s, nowMs)),
  };
}

/** A table: for each backend a total line (shard `*`), then one line per shard. */
export function formatStatusTable(backends: readonly BackendStatus[], nowMs: number): string {
  const rows: string[][] = [];
  for (const b of backends) {
    const note =
      b.configured === false
        ? 'not configured: kept until configured again'
        : b.maxQueueBytes === undefined
          ? ''
          : `${percent(b.total.bytes, b.maxQueueBytes)} of max_queue_bytes ${formatBytes(b.maxQueueBytes)}`;
    rows.push(line(b.backend, b.total, nowMs, note));
    for (const s of b.shards) rows.push(line(b.backend, s, nowMs, ''));
  }
  return formatTable(['BACKEND', 'SHARD', 'ITEMS', 'BYTES', 'SAMPLES', 'HISTOGRAMS', 'OLDEST', 'NOTE'], rows);
}

function line(backend: string, s: ShardStatus, nowMs: number, note: string): string[] {
  return [
    backend,
    s.shard === undefined ? '*' : String(s.shard),
    String(s.items),
    formatBytes(s.bytes),
    String(s.samples),
    String(s.histograms),
    s.oldestEnqueuedAtMs === undefined ? '-' : formatAge(ageSeconds(s.oldestEnqueuedAtMs, nowMs)),
    note,
  ];
}

function ageSeconds(oldestMs: number, nowMs: number): number {
  return Math.max(0, Math.round((nowMs - oldestMs) / 1000));
}

/** 0s, 42s, 3m05s, 2h07m, 3d04h. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${pad(Math.floor((seconds % 3600) / 60))}m`;
  return `${Math.floor(seconds / 86_400)}d${pad(Math.floor((seconds % 86_400) / 3600))}h`;
}

/** 0B, 512B, 1.5KiB, 256.0MiB. */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes}B`;
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value.toFixed(1)}${unit}`;
}

function percent(part: number, whole: number): string {
  if (whole <= 0) return '-';
  return `${((100 * part) / whole).toFixed(1)}%`;
}
