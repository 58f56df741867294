/**
 * Drain after an outage: `npm run build && node dist/bench/drain.js [--rate N] [--outage S] ...`
 *
 * Pushes a steady load (samples/s) through tributary to the bench sink; after a short while the
 * sink refuses everything (503) for `--outage` seconds, then recovers. tributary keeps answering
 * 2xx into its queue meanwhile. The bench reports the backlog at recovery, how long it took to
 * drain it while the load went on, the drain rate (samples/s delivered between recovery and
 * catch-up) against the ingest rate, and checks at the end that the sink got every accepted sample.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Proc } from '../scripts/lib/procs.js';
import { prepareRequests } from './lib/requests.js';
import { generateSeries } from './lib/series.js';
import type { SinkStats } from './lib/sink.js';
import { runMain } from './lib/run-main.js';
import { freePort, startSinkProc, startTributary } from './lib/targets.js';

const HELP = `usage: node dist/bench/drain.js [--rate SAMPLES_PER_S] [--outage S] [--duration S] [--series N] [--batch N] [--synchronous normal|full]
  --rate        steady ingest rate (default 100000 samples/s)
  --outage      how long the sink answers 503 (default 10 s), starting 3 s into the run
  --duration    how long the load runs in total (default 30 s)
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sinkStats(port: number): Promise<SinkStats> {
  return (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as SinkStats;
}

async function queueBytes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tributary_queue_bytes{'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '100000' },
      outage: { type: 'string', default: '10' },
      duration: { type: 'string', default: '30' },
      series: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '2000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const rate = Number(values.rate);
  const outageMs = Number(values.outage) * 1000;
  const durationMs = Number(values.duration) * 1000;
  const batch = Number(values.batch);
  for (const [name, v] of Object.entries({ rate, outageMs, durationMs, batch })) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  }
  const outageStartMs = 3000;
  if (outageStartMs + outageMs >= durationMs) throw new Error('--duration must leave time after the outage');

  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'tributary-drain-'));
  const procs: Proc[] = [];
  let pool: Pool | undefined;
  try {
    const series = generateSeries({ count: Number(values.series), cluster: 'bench' });
    // Enough requests that every one carries fresh timestamps for the whole run.
    const requestCount = Math.ceil((durationMs / 1000) * (rate / batch)) + 10;
    const { requests } = prepareRequests({ series, batch, requests: requestCount, endMs: Date.now() });
    const sink = await startSinkProc(join(repoRoot, 'dist', 'bench', 'sink-main.js'), dir, 1);
    procs.push(sink.proc);
    const port = await freePort();
    const target = await startTributary({
      mainJs: join(repoRoot, 'dist', 'src', 'main.js'),
      dir,
      port,
      sinkPort: sink.port,
      cluster: 'bench',
      tenant: 'bench',
      token: 'trib_drain-bench-token',
      tenantLabel: undefined,
      shards: undefined,
      maxSamplesPerSend: undefined,
    });
    procs.push(target.proc);
    pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 });
    const headers = { ...target.authHeaders, 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' };

    let accepted = 0;
    let refused = 0;
    const start = performance.now();
    const intervalMs = (batch / rate) * 1000;
    // Paced sender: request i leaves at start + i * interval (catching up if it fell behind).
    const sender = (async () => {
      for (let i = 0; i < requests.length; i++) {
        const due = start + i * intervalMs;
        if (due - start >= durationMs) break;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const req = requests[i];
        if (req === undefined) break;
        const res = await (pool as Pool).request({ path: '/api/v1/write', method: 'POST', headers, body: req.body });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) accepted += req.samples;
        else refused++;
      }
    })();

    await sleep(outageStartMs);
    await fetch(`http://127.0.0.1:${sink.port}/control/fail?ms=${outageMs}`, { method: 'POST' });
    await sleep(outageMs);
    const recoveredAt = performance.now();
    const atRecovery = await sinkStats(sink.port);
    const backlog = accepted - atRecovery.samples;
    let caughtUpAt: number | undefined;
    let atCatchUp: SinkStats | undefined;
    while (performance.now() - start < durationMs + 30_000) {
      if ((await queueBytes(port)) === 0 || (await sinkStats(sink.port)).samples >= accepted) {
        caughtUpAt = performance.now();
        atCatchUp = await sinkStats(sink.port);
        break;
      }
      await sleep(50);
    }
    await sender;
    const ingestRate = (accepted / (performance.now() - start)) * 1000;
    let final = await sinkStats(sink.port);
    for (let i = 0; i < 100 && final.samples < accepted; i++) {
      await sleep(100);
      final = await sinkStats(sink.port);
    }

    const drainS = caughtUpAt === undefined ? Number.NaN : (caughtUpAt - recoveredAt) / 1000;
    const drainRate = atCatchUp === undefined ? Number.NaN : (atCatchUp.samples - atRecovery.samples) / drainS;
    const rows: Array<[string, string]> = [
      ['ingest rate (accepted samples/s)', Math.round(ingestRate).toLocaleString('en')],
      ['outage s', String(outageMs / 1000)],
      ['backlog at recovery (samples)', backlog.toLocaleString('en')],
      ['time to drain after recovery s', drainS.toFixed(2)],
      ['drain rate (samples/s delivered meanwhile)', Math.round(drainRate).toLocaleString('en')],
      ['drain rate / ingest rate', (drainRate / ingestRate).toFixed(1)],
      ['requests refused by tributary', String(refused)],
      ['sink samples / accepted', `${final.samples.toLocaleString('en')} / ${accepted.toLocaleString('en')}`],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
    if (final.samples !== accepted) {
      process.stderr.write('drain: the sink did not receive every accepted sample\n');
      return 1;
    }
    return 0;
  } finally {
    if (pool) await pool.destroy().catch(() => undefined);
    for (const p of procs.reverse()) await p.stop(5000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain('drain', main);
