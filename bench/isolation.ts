/**
 * Tenant isolation: `npm run build && node dist/bench/isolation.js [--rate N] [--duration S]`
 *
 * Two tenants share one tributary. `quiet` sends a steady load (--rate samples/s, paced) within
 * its limits. `flood` has an ingestion rate of --flood-limit samples/s and sends as fast as
 * --flood-senders connections allow, far over it. The quiet tenant's load runs twice: alone, then
 * with the flood. The bench prints the quiet tenant's latency and refusals in both phases, what
 * the flood got through and how it was answered, and tributary's CPU in each phase: a flood that
 * cost the quiet tenant something would show in its p99 and its refusals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Proc } from '../scripts/lib/procs.js';
import { treeCpuSeconds } from './lib/procstat.js';
import { type PreparedRequest, prepareRequests } from './lib/requests.js';
import { generateSeries } from './lib/series.js';
import { runMain } from './lib/run-main.js';
import { freePort, startSinkProc, startTributary } from './lib/targets.js';

const HELP = `usage: node dist/bench/isolation.js [--rate N] [--duration S] [--flood-limit N] [--flood-senders N]
  --rate           the quiet tenant's steady load (default 100000 samples/s)
  --duration       length of each phase (default 10 s)
  --flood-limit    the flooding tenant's ingestion_rate (default 20000 samples/s)
  --flood-senders  the flooding tenant's connections, each sending back to back (default 8)
`;

const BATCH = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PhaseResult {
  readonly latenciesMs: number[];
  readonly accepted: number;
  readonly refused: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Paced sends: request i leaves at start + i * interval (catching up when behind). */
async function paced(pool: Pool, headers: Record<string, string>, requests: readonly PreparedRequest[], rate: number, durationMs: number): Promise<PhaseResult> {
  const intervalMs = (BATCH / rate) * 1000;
  const latenciesMs: number[] = [];
  let accepted = 0;
  let refused = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < requests.length && i * intervalMs < durationMs; i++) {
    const wait = start + i * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    const req = requests[i] as PreparedRequest;
    const t0 = performance.now();
    inFlight.push(
      pool.request({ path: '/api/v1/write', method: 'POST', headers, body: req.body }).then(async (res) => {
        await res.body.dump();
        latenciesMs.push(performance.now() - t0);
        if (res.statusCode >= 200 && res.statusCode < 300) accepted += req.samples;
        else refused++;
      }),
    );
  }
  await Promise.all(inFlight);
  return { latenciesMs: latenciesMs.sort((a, b) => a - b), accepted, refused };
}

/** Back-to-back sends from `senders` connections until `stop()`: statuses counted. */
async function flood(pool: Pool, headers: Record<string, string>, requests: readonly PreparedRequest[], senders: number, stop: () => boolean): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (!stop()) {
        const req = requests[next++ % requests.length] as PreparedRequest;
        const res = await pool.request({ path: '/api/v1/write', method: 'POST', headers, body: req.body });
        await res.body.dump();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '100000' },
      duration: { type: 'string', default: '10' },
      'flood-limit': { type: 'string', default: '20000' },
      'flood-senders': { type: 'string', default: '8' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const rate = Number(values.rate);
  const durationMs = Number(values.duration) * 1000;
  const floodLimit = Number(values['flood-limit']);
  const floodSenders = Number(values['flood-senders']);
  for (const [name, v] of Object.entries({ rate, durationMs, floodLimit, floodSenders })) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  }

  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'tributary-isolation-'));
  const procs: Proc[] = [];
  const pools: Pool[] = [];
  try {
    // Fresh timestamps for both phases of the quiet tenant; the flood repeats its requests
    // (what it gets through is dropped as duplicates after the first round: it only has to cost).
    const perPhase = Math.ceil((durationMs / 1000) * (rate / BATCH)) + 5;
    const quietSeries = generateSeries({ count: 20_000, cluster: 'quiet', seed: 1 });
    const quietRequests = prepareRequests({ series: quietSeries, batch: BATCH, requests: 2 * perPhase, endMs: Date.now() + 2 * durationMs }).requests;
    const floodRequests = prepareRequests({ series: generateSeries({ count: 20_000, cluster: 'flood', seed: 2 }), batch: BATCH, requests: 50 }).requests;

    const sink = await startSinkProc(join(repoRoot, 'dist', 'bench', 'sink-main.js'), dir, 10);
    procs.push(sink.proc);
    const port = await freePort();
    const target = await startTributary({
      mainJs: join(repoRoot, 'dist', 'src', 'main.js'),
      dir,
      port,
      sinkPort: sink.port,
      cluster: 'quiet',
      tenant: 'quiet',
      token: 'trib_isolation-quiet',
      tenantLabel: undefined,
      shards: undefined,
      maxSamplesPerSend: undefined,
      moreTokens: [{ tenant: 'flood', cluster: 'flood', token: 'trib_isolation-flood' }],
      tenants: { flood: { limits: { ingestion_rate: floodLimit, ingestion_burst_size: 2 * BATCH, max_samples_per_request: BATCH } } },
    });
    procs.push(target.proc);
    const pid = target.proc.child.pid as number;
    const base = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' };
    const quietPool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
    const floodPool = new Pool(`http://127.0.0.1:${port}`, { connections: floodSenders });
    pools.push(quietPool, floodPool);
    const quietHeaders = { ...base, authorization: 'Bearer trib_isolation-quiet' };
    const floodHeaders = { ...base, authorization: 'Bearer trib_isolation-flood' };

    // Warm-up, then phase 1: the quiet tenant alone.
    await paced(quietPool, quietHeaders, quietRequests.slice(0, 10), rate, 1000);
    let cpu0 = treeCpuSeconds(pid);
    const alone = await paced(quietPool, quietHeaders, quietRequests.slice(10, perPhase), rate, durationMs);
    let cpu1 = treeCpuSeconds(pid);
    const aloneCores = (cpu1 - cpu0) / (durationMs / 1000);

    // Phase 2: the same load while the other tenant floods.
    let stopFlood = false;
    const flooding = flood(floodPool, floodHeaders, floodRequests, floodSenders, () => stopFlood);
    await sleep(500);
    cpu0 = treeCpuSeconds(pid);
    const withFlood = await paced(quietPool, quietHeaders, quietRequests.slice(perPhase), rate, durationMs);
    cpu1 = treeCpuSeconds(pid);
    stopFlood = true;
    const statuses = await flooding;
    const floodCores = (cpu1 - cpu0) / (durationMs / 1000);

    const row = (name: string, r: PhaseResult, cores: number) =>
      `${name.padEnd(28)} ${Math.round(r.accepted / (durationMs / 1000)).toLocaleString('en').padStart(10)} ${percentile(r.latenciesMs, 50).toFixed(1).padStart(8)} ${percentile(r.latenciesMs, 99).toFixed(1).padStart(8)} ${String(r.refused).padStart(8)} ${cores.toFixed(2).padStart(8)}`;
    process.stdout.write(`quiet tenant: ${rate.toLocaleString('en')} samples/s offered in ${BATCH}-sample requests, ${durationMs / 1000} s per phase\n`);
    process.stdout.write(`${'phase'.padEnd(28)} ${'samples/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'refused'.padStart(8)} ${'cores'.padStart(8)}\n`);
    process.stdout.write(`${row('quiet alone', alone, aloneCores)}\n`);
    process.stdout.write(`${row('quiet while flood floods', withFlood, floodCores)}\n`);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const answers = [...statuses].map(([code, n]) => `${code}: ${n}`).join(', ');
    process.stdout.write(
      `flood tenant (ingestion_rate ${floodLimit.toLocaleString('en')}/s, ${floodSenders} connections back to back): ${total.toLocaleString('en')} requests (${Math.round(total / (durationMs / 1000 + 0.5)).toLocaleString('en')}/s), answers ${answers}\n`,
    );
    return alone.refused + withFlood.refused === 0 ? 0 : 1;
  } finally {
    for (const p of pools) await p.destroy().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop(5000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain('isolation', main);
