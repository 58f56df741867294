/**
 * The bench's result record and its printed form.
 */

export interface BenchResult {
  target: string;
  scenario: string;
  series: number;
  batch: number;
  concurrency: number;
  /** The most requests that can be in flight when sends sharing a series wait for each other (schedule.ts). */
  maxInFlight: number;
  /** Mean requests in flight during the timed window (sum of latencies ÷ window). */
  inFlightMean: number;
  /** Timed-window sends that waited for an earlier send sharing a series. */
  gatedSends: number;
  /** Prepared requests whose timestamps are patched fresh before every send, and the bytes written per send. */
  freshTimestamps: { requests: number; patchedBytesPerSend: number; reencoded: number; maxAheadOfClockMs: number };
  /** Samples the target counted as dropped for not being newer than the series' last (null: not tributary, or no metrics). */
  staleDroppedSamples: number | null;
  warmupSeconds: number;
  durationSeconds: number;
  preparedRequests: number;
  compressedBytesPerSample: number;
  rawBytesPerSample: number;
  acceptedRequests: number;
  acceptedSamples: number;
  acceptedSamplesPerSecond: number;
  /** Samples the sink received during the timed window, per second. */
  forwardedSamplesPerSecond: number;
  forwardedCountExact: boolean;
  /** Everything accepted (warm-up included) and what reached the sink after the drain. */
  acceptedTotalSamples: number;
  forwardedTotalSamples: number;
  forwardedRatio: number;
  drainSeconds: number;
  /** Sink rate between the end of the load and the last forwarded request. */
  drainSamplesPerSecond: number;
  drainComplete: boolean;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  targetCpuSeconds: number;
  targetCpuMicrosPerSample: number;
  targetCpuCores: number;
  /** CPU from the warm-up's start until everything reached the sink, per accepted sample (NaN if the drain did not finish). */
  targetCpuMicrosPerSampleEndToEnd: number;
  peakRssMiB: number;
  rssMiB: { timedStart: number; timedEnd: number; afterDrain: number };
  loadgenCpuCores: number;
  sinkCpuCores: number;
  /** The rest of the machine during the timed window (other work skews the figures). */
  otherCpuCores: number;
  sentMiB: number;
  sinkRequests: number;
  sinkMiB: number;
  errors: number;
  failures: Record<string, number>;
  failureExamples: Record<string, string>;
  abortedBecause: string | null;
  machine: { cpus: number; model: string; node: string; loadavgBefore: number };
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A two-column table: what and value. */
export function renderTable(r: BenchResult): string {
  const rows: [string, string][] = [
    ['target', r.target],
    ['scenario', r.scenario],
    ['series', fmt(r.series)],
    ['batch (samples/request)', fmt(r.batch)],
    ['concurrency (max by series order)', `${fmt(r.concurrency)} (${fmt(r.maxInFlight)})`],
    ['requests in flight, mean', fmt(r.inFlightMean, 2)],
    ['duration s (warm-up)', `${fmt(r.durationSeconds, 1)} (${fmt(r.warmupSeconds, 0)})`],
    ['accepted samples/s', fmt(r.acceptedSamplesPerSecond)],
    [`forwarded samples/s (sink${r.forwardedCountExact ? '' : ', est.'})`, fmt(r.forwardedSamplesPerSecond)],
    ['latency p50 / p99 / max ms', `${fmt(r.latencyMs.p50, 2)} / ${fmt(r.latencyMs.p99, 2)} / ${fmt(r.latencyMs.max, 2)}`],
    ['target CPU µs/sample (timed window)', fmt(r.targetCpuMicrosPerSample, 3)],
    ['target CPU µs/sample (incl. drain)', fmt(r.targetCpuMicrosPerSampleEndToEnd, 3)],
    ['target CPU cores used', fmt(r.targetCpuCores, 2)],
    ['target peak RSS MiB', fmt(r.peakRssMiB, 1)],
    ['target RSS MiB start/end/drained', `${fmt(r.rssMiB.timedStart, 1)} / ${fmt(r.rssMiB.timedEnd, 1)} / ${fmt(r.rssMiB.afterDrain, 1)}`],
    ['forwarded / accepted (all)', `${fmt(r.forwardedTotalSamples)} / ${fmt(r.acceptedTotalSamples)} (${fmt(r.forwardedRatio * 100, 2)}%)`],
    [
      'drain after load s (samples/s)',
      `${fmt(r.drainSeconds, 1)}${r.drainComplete ? '' : ' (incomplete)'}${Number.isFinite(r.drainSamplesPerSecond) ? ` (${fmt(r.drainSamplesPerSecond)})` : ''}`,
    ],
    ['bytes/sample sent (raw)', `${fmt(r.compressedBytesPerSample, 1)} (${fmt(r.rawBytesPerSample, 1)})`],
    ['CPU cores: load gen / sink / other', `${fmt(r.loadgenCpuCores, 2)} / ${fmt(r.sinkCpuCores, 2)} / ${fmt(r.otherCpuCores, 2)}`],
    ['samples dropped as stale by the target', r.staleDroppedSamples === null ? 'n/a' : fmt(r.staleDroppedSamples)],
    ['errors', r.errors === 0 ? '0' : `${fmt(r.errors)} ${JSON.stringify(r.failures)}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, val]) => val.length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(v + 2)}+`;
  const body = rows.map(([k, val]) => `| ${k.padEnd(w)} | ${val.padStart(v)} |`);
  return [line, ...body, line].join('\n');
}
