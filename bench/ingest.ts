/**
 * `npm run bench`: the ingestion throughput benchmark. Starts a sink backend and the target
 * (tributary, or vmagent for comparison) on 127.0.0.1, pushes pre-encoded realistic remote-write
 * requests at it with fixed concurrency (each send's timestamps patched fresh in the compressed
 * body, sends sharing a series in order: lib/schedule.ts), and reports accepted and forwarded
 * samples/s, latency, the target's CPU per sample and peak memory. Exits non-zero when any request was refused, the
 * target died, or accepted samples did not all reach the sink.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build as buildHistogram } from 'hdr-histogram-js';
import { Pool } from 'undici';
import type { Proc } from '../scripts/lib/procs.js';
import { which } from '../scripts/lib/procs.js';
import { drive, type DriveResult } from './lib/driver.js';
import { machineBusySeconds, RssSampler, treeCpuSeconds, treeStatusBytes } from './lib/procstat.js';
import { type BenchResult, renderTable } from './lib/report.js';
import { prepareRequests } from './lib/requests.js';
import { SendSchedule } from './lib/schedule.js';
import { generateSeries } from './lib/series.js';
import type { SinkStats } from './lib/sink.js';
import { freePort, startSinkProc, startTributary, startVmagent, type Target, type TargetKind } from './lib/targets.js';

const HELP = `usage: npm run bench -- [options]

  --series N            distinct series (default 20000: enough for 8 requests in flight without a series in two of them)
  --batch N             samples per request, one per series (default 2000; at most --series)
  --concurrency N       senders, one request in flight each (default 8; requests sharing
                        a series are never in flight together, see bench/README.md)
  --duration S          timed phase, seconds (default 20)
  --warmup S            warm-up before it, seconds (default 3)
  --target T            tributary | vmagent (default tributary)
  --tenant-label        backend adds tenant="bench" to every series (the rewrite path);
                        with vmagent: -remoteWrite.label=tenant=bench
  --tributary-port N    port for tributary / vmagent (default: a free one)
  --shards N            tributary backend shards (default: tributary's)
  --max-samples-per-send N   tributary backend batch size (default: tributary's)
  --synchronous normal|full  tributary queue.synchronous (default: tributary's, normal)
  --verify              sink decodes every request: exact forwarded counts (costs sink CPU)
  --seed N              series generator seed
  --drain-timeout S     how long to wait for the sink to catch up (default 15)
  --vmagent PATH        vmagent binary (default: vmagent on PATH, else /usr/bin/vmagent)
  --json                print the result as JSON only
  --keep                keep the working directory (configs, logs, target metrics)
`;

const CLUSTER = 'bench-eu-west-1';
const TENANT = 'bench';
/**
 * Fresh timestamps: the scrapes of one cycle through the prepared requests are this far apart (ms),
 * and each cycle starts at the clock minus LAG_MS, or right after the previous cycle if that is
 * later. At ~25 cycles/s, a 15 s scrape interval would run hours ahead of the clock within a run.
 */
const STEP_MS = 1;
const LAG_MS = 1000;

/** Sum of `tributary_ingest_dropped_samples_total` (samples not newer than their series' last), or null. */
function staleDrops(metricsText: string): number | null {
  let sum: number | null = null;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('tributary_ingest_dropped_samples_total')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function positiveInt(name: string, raw: string | undefined, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${String(raw)})`);
  return n;
}

function seconds(name: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number of seconds >= ${min} (got ${String(raw)})`);
  return n;
}

class UsageError extends Error {}

const MiB = 1024 * 1024;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      series: { type: 'string', default: '20000' },
      batch: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '8' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      target: { type: 'string', default: 'tributary' },
      'tenant-label': { type: 'boolean', default: false },
      'tributary-port': { type: 'string' },
      shards: { type: 'string' },
      'max-samples-per-send': { type: 'string' },
      synchronous: { type: 'string' },
      verify: { type: 'boolean', default: false },
      seed: { type: 'string' },
      'drain-timeout': { type: 'string', default: '15' },
      vmagent: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const seriesCount = positiveInt('series', values.series);
  const batch = positiveInt('batch', values.batch);
  const concurrency = positiveInt('concurrency', values.concurrency);
  const durationS = seconds('duration', values.duration, 1);
  const warmupS = seconds('warmup', values.warmup, 0);
  const drainTimeoutS = seconds('drain-timeout', values['drain-timeout'], 1);
  const target = values.target as TargetKind;
  if (target !== 'tributary' && target !== 'vmagent') throw new UsageError(`--target must be tributary or vmagent (got ${values.target})`);
  const port = values['tributary-port'] === undefined ? await freePort() : positiveInt('tributary-port', values['tributary-port']);
  const shards = values.shards === undefined ? undefined : positiveInt('shards', values.shards);
  const maxPerSend = values['max-samples-per-send'] === undefined ? undefined : positiveInt('max-samples-per-send', values['max-samples-per-send']);
  const seed = values.seed === undefined ? undefined : positiveInt('seed', values.seed, 0);
  const tenantLabel = values['tenant-label'];
  const synchronous = values.synchronous;
  if (synchronous !== undefined && synchronous !== 'normal' && synchronous !== 'full') {
    throw new UsageError(`--synchronous must be normal or full (got ${synchronous})`);
  }
  const scenario = `${tenantLabel ? 'tenant-label' : 'default'}${synchronous === 'full' ? ', synchronous full' : ''}`;
  const decodeEvery = values.verify ? 1 : 10;

  const benchDir = dirname(fileURLToPath(import.meta.url));
  const repoRoot = resolve(benchDir, '..', '..');
  const vmagentBin = values.vmagent ?? which('vmagent') ?? '/usr/bin/vmagent';

  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  const procs: Proc[] = [];
  let pool: Pool | undefined;
  let sampler: RssSampler | undefined;
  // One cleanup, however many paths ask for it (signal, watchdog, the end of main): each waits for it.
  let cleaning: Promise<void> | undefined;
  // A failed run keeps its directory: the logs are the evidence.
  let failed = false;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      sampler?.stop();
      if (pool) await pool.destroy().catch(() => undefined);
      for (const p of [...procs].reverse()) await p.stop(5000).catch(() => undefined);
      if (values.keep || failed) log(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Whatever goes wrong (a child's spawn error, a bug here), stop what was started first.
  process.once('uncaughtException', (err) => {
    log(`unexpected error: ${err.stack ?? err.message}`);
    failed = true;
    void cleanup().finally(() => process.exit(1));
  });
  // Bounded in time whatever happens: prepare + start + warm-up + run + drain + stop, with room.
  const watchdog = setTimeout(
    () => {
      log('watchdog: the run took far longer than planned; stopping everything');
      void cleanup().finally(() => process.exit(1));
    },
    (warmupS + durationS + drainTimeoutS + 120) * 1000,
  );
  watchdog.unref();

  try {
    // 1. Data, before anything is timed.
    const t0 = performance.now();
    const series = generateSeries({ count: seriesCount, cluster: CLUSTER, ...(seed === undefined ? {} : { seed }) });
    const set = prepareRequests({ series, batch, freshTimestamps: true, intervalMs: STEP_MS, endMs: Date.now() - LAG_MS });
    const samplesInSet = set.samples;
    const schedule = new SendSchedule(set, { fresh: true, lagMs: LAG_MS });
    log(
      `prepared ${set.requests.length} requests, ${samplesInSet} samples over ${set.seriesCovered} series in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        `${(set.compressedBytes / MiB).toFixed(1)} MiB compressed (${(set.compressedBytes / samplesInSet).toFixed(1)} B/sample), ` +
        `${(set.rawBytes / MiB).toFixed(1)} MiB raw (${(set.rawBytes / samplesInSet).toFixed(1)} B/sample)`,
    );
    const patchBytes = set.requests.reduce((n, r) => n + (r.patch?.offsets.length ?? 0), 0);
    log(
      `fresh timestamps: all ${set.requests.length} requests patchable${set.reencoded > 0 ? ` (${set.reencoded} after compressing them again in another series order)` : ''}, ` +
        `${(patchBytes / set.requests.length).toFixed(0)} timestamp bytes rewritten per send; ${set.scrapes} scrape(s) per cycle, checked on two patched cycles`,
    );
    if (batch > seriesCount) log(`note: --batch ${batch} > --series ${seriesCount}: each request carries one sample of every series (${seriesCount} samples)`);
    if (schedule.maxParallel < concurrency) {
      log(
        `note: at most ${schedule.maxParallel} requests can be in flight: ${seriesCount} series fill only ${schedule.maxParallel} requests of ${Math.min(batch, seriesCount)} distinct series, ` +
          `and sends sharing a series wait for each other (else the target could see a series' samples out of order and drop them). ` +
          `For ${concurrency} in flight use --series ${concurrency * Math.min(batch, seriesCount)} or more ` +
          `(${(concurrency + 2) * Math.min(batch, seriesCount)} keeps all ${concurrency} busy: answers come back out of order)`,
      );
    }

    // 2. Sink and target.
    const sink = await startSinkProc(join(benchDir, 'sink-main.js'), dir, decodeEvery);
    procs.push(sink.proc);
    const sinkStats = async (): Promise<SinkStats> => {
      const res = await fetch(`http://127.0.0.1:${sink.port}/stats`, { signal: AbortSignal.timeout(5000) });
      return (await res.json()) as SinkStats;
    };
    log(`sink on 127.0.0.1:${sink.port} (pid ${sink.proc.child.pid})`);

    let tgt: Target;
    if (target === 'tributary') {
      tgt = await startTributary({
        mainJs: join(repoRoot, 'dist', 'src', 'main.js'),
        dir,
        port,
        sinkPort: sink.port,
        cluster: CLUSTER,
        tenant: TENANT,
        token: `trib_${randomBytes(32).toString('base64url')}`,
        tenantLabel: tenantLabel ? 'tenant' : undefined,
        shards,
        maxSamplesPerSend: maxPerSend,
        synchronous,
      });
    } else {
      tgt = await startVmagent({ binary: vmagentBin, dir, port, sinkPort: sink.port, extraLabel: tenantLabel ? `tenant=${TENANT}` : undefined });
    }
    procs.push(tgt.proc);
    const pid = tgt.proc.child.pid;
    if (pid === undefined) throw new Error(`${tgt.kind} has no pid`);
    log(`${tgt.kind} on 127.0.0.1:${tgt.port} (pid ${pid}); scenario ${scenario}`);

    const abortReason = (): string | undefined => {
      for (const p of procs) {
        if (p.child.exitCode !== null || p.child.signalCode !== null) {
          return `${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode}); see ${p.logFile}`;
        }
      }
      return undefined;
    };

    pool = new Pool(`http://127.0.0.1:${tgt.port}`, {
      connections: concurrency,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const headers = {
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'tributary-bench/0.1',
      ...tgt.authHeaders,
    };
    sampler = new RssSampler(pid, 500);
    sampler.start();
    const busy = loadavg()[0] ?? 0;
    const cpuWarm0 = treeCpuSeconds(pid);

    // 3. Warm-up (its latencies are thrown away).
    let warm: DriveResult | undefined;
    if (warmupS > 0) {
      log(`warm-up ${warmupS} s`);
      warm = await drive({
        pool,
        path: tgt.writePath,
        headers,
        schedule,
        concurrency,
        durationMs: warmupS * 1000,
        histogram: buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 }),
        abortReason,
      });
    }

    // 4. The timed phase.
    const histogram = buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    const sink0 = await sinkStats();
    const cpu0 = treeCpuSeconds(pid);
    const machine0 = machineBusySeconds();
    const load0 = process.cpuUsage();
    const rssStart = sampler.sample();
    log(`timed run ${durationS} s, concurrency ${concurrency}`);
    const timed = await drive({
      pool,
      path: tgt.writePath,
      headers,
      schedule,
      concurrency,
      durationMs: durationS * 1000,
      histogram,
      abortReason,
    });
    const cpu1 = treeCpuSeconds(pid);
    const machine1 = machineBusySeconds();
    const load1 = process.cpuUsage(load0);
    const sink1 = await sinkStats();
    const rssEnd = sampler.sample();
    const loadEnd = Date.now();

    // 5. Drain: wait until the sink stops receiving or has everything.
    const acceptedTotal = (warm?.acceptedSamples ?? 0) + timed.acceptedSamples;
    // An estimated count is within a fraction of a percent; an exact one must match.
    const needed = acceptedTotal * (sink1.samplesExact ? 1 : 0.98);
    let last = sink1;
    let lastChange = loadEnd;
    let reached = last.samples >= needed;
    let stalled = false;
    log(`draining: sink has ${last.samples} of ${acceptedTotal} accepted samples`);
    while (Date.now() - loadEnd < drainTimeoutS * 1000 && abortReason() === undefined) {
      await sleep(250);
      const st = await sinkStats();
      if (st.requests !== last.requests) lastChange = Date.now();
      last = st;
      reached = st.samples >= needed;
      const quiet = Date.now() - lastChange;
      if (reached && quiet >= 1000) break;
      if (quiet >= 3000) {
        stalled = true;
        break;
      }
    }
    const cpuDrained = treeCpuSeconds(pid);
    const rssDrained = sampler.sample();
    const hwm = treeStatusBytes(pid, 'VmHWM');
    sampler.stop();
    let staleDropped: number | null = null;
    try {
      const res = await fetch(`http://127.0.0.1:${tgt.port}${tgt.metricsPath}`, { signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      writeFileSync(join(dir, `${tgt.kind}-metrics.txt`), text);
      if (tgt.kind === 'tributary') staleDropped = staleDrops(text) ?? 0;
    } catch {
      // a convenience for --keep, and the stale-drop check below (skipped without metrics)
    }

    // 6. Report.
    const failures = new Map<string, number>();
    const examples = new Map<string, string>();
    for (const r of [warm, timed]) {
      if (!r) continue;
      for (const [k, n] of r.failures) failures.set(k, (failures.get(k) ?? 0) + n);
      for (const [k, e] of r.failureExamples) if (!examples.has(k)) examples.set(k, e);
    }
    const errors = [...failures.values()].reduce((a, b) => a + b, 0);
    const elapsedS = timed.elapsedMs / 1000;
    const abortedBecause = warm?.abortedBecause ?? timed.abortedBecause ?? abortReason() ?? null;
    // A dead target's CPU can no longer be read: no figure rather than a wrong one.
    const targetCpu = abortedBecause === null ? cpu1 - cpu0 : Number.NaN;
    const sinkCpuS = (sink1.cpuUserUs + sink1.cpuSystemUs - sink0.cpuUserUs - sink0.cpuSystemUs) / 1e6;
    const ms = (us: number): number => Math.round(us) / 1000;
    const result: BenchResult = {
      target: tgt.kind,
      scenario,
      series: seriesCount,
      batch,
      concurrency,
      maxInFlight: Math.min(concurrency, schedule.maxParallel),
      inFlightMean: timed.busyMs / timed.elapsedMs,
      gatedSends: timed.gatedSends,
      freshTimestamps: {
        requests: set.requests.length,
        patchedBytesPerSend: schedule.sent > 0 ? schedule.patchedBytes / schedule.sent : 0,
        reencoded: set.reencoded,
        maxAheadOfClockMs: schedule.aheadMs,
      },
      staleDroppedSamples: staleDropped,
      warmupSeconds: warmupS,
      durationSeconds: elapsedS,
      preparedRequests: set.requests.length,
      compressedBytesPerSample: set.compressedBytes / samplesInSet,
      rawBytesPerSample: set.rawBytes / samplesInSet,
      acceptedRequests: timed.acceptedRequests,
      acceptedSamples: timed.acceptedSamples,
      acceptedSamplesPerSecond: timed.acceptedSamples / elapsedS,
      forwardedSamplesPerSecond: (sink1.samples - sink0.samples) / elapsedS,
      forwardedCountExact: sink1.samplesExact,
      acceptedTotalSamples: acceptedTotal,
      forwardedTotalSamples: last.samples,
      forwardedRatio: acceptedTotal > 0 ? last.samples / acceptedTotal : 1,
      drainSeconds: Math.max(0, lastChange - loadEnd) / 1000,
      drainSamplesPerSecond: lastChange > loadEnd ? ((last.samples - sink1.samples) * 1000) / (lastChange - loadEnd) : Number.NaN,
      drainComplete: reached,
      latencyMs: {
        p50: ms(histogram.getValueAtPercentile(50)),
        p90: ms(histogram.getValueAtPercentile(90)),
        p99: ms(histogram.getValueAtPercentile(99)),
        max: ms(histogram.maxValue),
        mean: ms(histogram.mean),
      },
      targetCpuSeconds: targetCpu,
      targetCpuMicrosPerSample: timed.acceptedSamples > 0 ? (targetCpu * 1e6) / timed.acceptedSamples : Number.NaN,
      targetCpuCores: targetCpu / elapsedS,
      targetCpuMicrosPerSampleEndToEnd: reached && abortedBecause === null && acceptedTotal > 0 ? ((cpuDrained - cpuWarm0) * 1e6) / acceptedTotal : Number.NaN,
      peakRssMiB: Math.max(hwm, sampler.max) / MiB,
      rssMiB: { timedStart: rssStart / MiB, timedEnd: rssEnd / MiB, afterDrain: rssDrained / MiB },
      loadgenCpuCores: (load1.user + load1.system) / 1e6 / elapsedS,
      sinkCpuCores: sinkCpuS / elapsedS,
      otherCpuCores: Math.max(0, (machine1 - machine0 - targetCpu - sinkCpuS - (load1.user + load1.system) / 1e6) / elapsedS),
      sentMiB: ((warm?.sentBytes ?? 0) + timed.sentBytes) / MiB,
      sinkRequests: last.requests,
      sinkMiB: last.bytes / MiB,
      errors,
      failures: Object.fromEntries(failures),
      failureExamples: Object.fromEntries(examples),
      abortedBecause,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, loadavgBefore: busy },
    };
    writeFileSync(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    histogram.destroy();

    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${renderTable(result)}\n`);

    if (abortedBecause === null && result.otherCpuCores > 0.25) {
      log(`note: other processes used ${result.otherCpuCores.toFixed(2)} CPU cores during the timed run; the figures are skewed`);
    }
    const problems: string[] = [];
    if (result.abortedBecause !== null) problems.push(`the run stopped early: ${result.abortedBecause}`);
    if (errors > 0) {
      const detail = [...failures].map(([k, n]) => `${k} x${n} (first: ${JSON.stringify(examples.get(k) ?? '')})`).join('; ');
      problems.push(`${errors} of ${(warm?.sentRequests ?? 0) + timed.sentRequests} requests were NOT accepted: ${detail}`);
    }
    const missing = `${last.samples} of ${acceptedTotal} accepted samples reached the sink${sink1.samplesExact ? '' : ' (estimated)'}`;
    if (staleDropped !== null && staleDropped > 0) {
      problems.push(`${tgt.kind} dropped ${staleDropped} samples as not newer than their series' last one: the bench sent stale timestamps, so it measured the drop path`);
    }
    if (!reached && stalled) problems.push(`only ${missing}, and the sink has received nothing for 3 s: samples lost or stuck`);
    if (!reached && !stalled && abortedBecause === null) {
      process.stderr.write(
        `\n!!! WARNING: forwarding lags ingest: only ${missing} ${drainTimeoutS} s after the load stopped, still arriving ` +
          `(raise --drain-timeout to see the whole drain)\n\n`,
      );
    }
    if (problems.length > 0) {
      failed = true;
      process.stderr.write(`\n!!!!!!!! BENCH FAILED !!!!!!!!\n${problems.map((p) => `!!! ${p}`).join('\n')}\n\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const usage = err instanceof UsageError || (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    process.stderr.write(`bench: ${(err as Error).message}\n${usage ? HELP : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
