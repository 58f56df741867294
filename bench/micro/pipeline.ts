/**
 * Micro-benchmark of the receive pipeline in one thread, no HTTP: where the CPU per sample goes.
 * Run: npm run build && node dist/bench/micro/pipeline.js
 *
 * Stages timed separately on the same realistic 2000-sample requests: snappy decompression,
 * protobuf decode into the WireBatch, the per-series high-water mark alone, and the whole
 * `WritePipeline.process` (plus the commit of its high-water marks, as the write route does after
 * the queue append) on the fast path (nothing changes: the body is forwarded as it arrived) and on
 * the rewrite path (the backend adds a tenant label, so every series is re-encoded and compressed).
 *
 * Timestamps: the high-water mark drops a sample that is not newer than the last one accepted for
 * its series, so replaying a request would measure the drop path, not the normal one. Each timed
 * repetition therefore sends ROUNDS distinct requests whose timestamps keep increasing (every series
 * gets a new scrape every SERIES / BATCH requests), and the marks are cleared between repetitions,
 * outside the timed region. So in each repetition the first 5 requests meet every series for the
 * first time (5% of the series lookups miss and insert) and the other 95 find their series tracked,
 * as in a steady stream. The table has the default size (1M series, 23 MB), so its lookups leave the
 * CPU caches as they do in production.
 */
import { createPrincipal } from '../../src/auth/principal.js';
import { WireBatch } from '../../src/model/batch.js';
import { type RouteTarget, WritePipeline } from '../../src/pipeline.js';
import { HighWaterMarks, hashSeriesKey, RequestMarks, SeriesKey, tenantSeed } from '../../src/policy/high-water-mark.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { decompressBody } from '../../src/wire/snappy.js';
import { bestOf } from '../lib/best-of.js';
import { prepareRequests } from '../lib/requests.js';
import { generateSeries } from '../lib/series.js';

const SERIES = 10_000;
const BATCH = 2000;
const ROUNDS = 100;
const REPETITIONS = 7;
const WARMUP = 30;

/** `maxTrackedSeries` 0: the high-water mark off (the pipeline as it was before it). */
function pipelineFor(backend: RouteTarget, maxTrackedSeries = 1_000_000): WritePipeline {
  return new WritePipeline({
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 32 << 20,
    backends: [backend],
    policyFor: () => ({ missing: 'inject', mismatch: 'reject' }),
    maxTrackedSeries,
  });
}

/** Time `run` (see bestOf) and print its cost per sample. */
function time(name: string, samplesPerRound: number, run: (round: number) => void, reset: () => void = () => {}): void {
  const best = bestOf({ warmup: WARMUP, repetitions: REPETITIONS, rounds: ROUNDS }, run, reset);
  const perSample = best / (ROUNDS * samplesPerRound);
  console.log(`${name.padEnd(48)} ${perSample.toFixed(0).padStart(6)} ns/sample  ${(1e9 / perSample / 1e3).toFixed(0).padStart(6)}k samples/s/core`);
}

const series = generateSeries({ count: SERIES, cluster: 'bench' });
const { requests } = prepareRequests({ series, batch: BATCH, requests: ROUNDS });
const bodies = requests.map((r) => r.body);
const principal = createPrincipal('bench', 'tok_bench', ['bench']);
const batch = new WireBatch();
const fastTarget: RouteTarget = { name: 'sink', shards: 4, tenantLabel: undefined, acceptsNativeHistograms: false };
const rewriteTarget: RouteTarget = { name: 'sink', shards: 4, tenantLabel: 'tenant', acceptsNativeHistograms: false };
const fast = pipelineFor(fastTarget);
const rewrite = pipelineFor(rewriteTarget);
const fastOff = pipelineFor(fastTarget, 0);
const rewriteOff = pipelineFor(rewriteTarget, 0);
const body = (i: number) => bodies[i % bodies.length] as Buffer;
const now = Date.now();

console.log(`${SERIES} series, ${BATCH} samples per request, ${(bodies.reduce((a, b) => a + b.length, 0) / bodies.length / BATCH).toFixed(1)} compressed bytes per sample`);
time('snappy decompress', BATCH, (i) => decompressBody(body(i), 32 << 20));
const raws = bodies.map((b) => decompressBody(b, 32 << 20));
time('protobuf decode (WireBatch)', BATCH, (i) => decodeWriteRequest(raws[i % raws.length] as Buffer, batch));

// The high-water mark's share, as the pipeline does it: key hash over the label bytes, the
// request's own view, the table lookup, and the commit. Decoded batches, prepared untimed.
const decoded = raws.map((raw) => {
  const b = new WireBatch();
  decodeWriteRequest(raw, b);
  return { batch: b, view: new DataView(raw.buffer, raw.byteOffset, raw.byteLength) };
});
let labelBytes = 0;
for (const { batch: b } of decoded) {
  for (let s = 0; s < b.seriesCount; s++) {
    labelBytes += b.labelBlockEnd(s) - b.labelBlockStart(s);
  }
}
console.log(`label bytes per series (hashed for the high-water mark key): ${(labelBytes / decoded.length / BATCH).toFixed(0)}`);
const keyLo = new Int32Array(BATCH);
const keyHi = new Int32Array(BATCH);
const key = new SeriesKey();
const seed = tenantSeed('bench');

/** Added to every timestamp, raised between repetitions: each repetition's samples are new. */
let epochMs = 0;
const nextEpoch = () => {
  epochMs += 1e10;
};

/** What the pipeline does for the high-water mark: keys, prefetch, lookups and filtering, commit. */
function markRound(requestMarks: RequestMarks, i: number): void {
  const { batch: b, view } = decoded[i % decoded.length] as (typeof decoded)[number];
  for (let s = 0; s < b.seriesCount; s++) {
    hashSeriesKey(view, b.buf, b.labelBlockStart(s), b.labelBlockEnd(s), seed, key);
    keyLo[s] = key.lo;
    keyHi[s] = key.hi;
  }
  requestMarks.table.prefetch(keyLo, b.seriesCount);
  requestMarks.reset(b.seriesCount);
  for (let s = 0; s < b.seriesCount; s++) {
    const e = requestMarks.entry(keyLo[s] as number, keyHi[s] as number);
    const t = (b.sampleTimestampMs[b.seriesSampleFirst[s] as number] as number) + epochMs;
    if (t > requestMarks.mark(e)) requestMarks.setMark(e, t);
  }
  requestMarks.take().commit();
}

const small = new RequestMarks(new HighWaterMarks(1_000_000));
time('high-water mark alone (hash, lookup, commit)', BATCH, (i) => markRound(small, i), nextEpoch);
// At scale: the same series among 980,000 others, so the table is full size (23 MB) and its
// lookups miss the CPU caches as they would with a million live series.
const large = new RequestMarks(new HighWaterMarks(1_000_000));
let filler = 0x12345;
for (let k = 0; k < 980_000; k++) {
  filler = (Math.imul(filler, 0x2c1b3c6d) + 0x297a2d39) | 0;
  large.table.record(filler | 1, k, 1);
}
time('high-water mark alone, 1M series tracked', BATCH, (i) => markRound(large, i), nextEpoch);
time(
  'high-water mark key hash only',
  BATCH,
  (i) => {
    const { batch: b, view } = decoded[i % decoded.length] as (typeof decoded)[number];
    for (let s = 0; s < b.seriesCount; s++) {
      hashSeriesKey(view, b.buf, b.labelBlockStart(s), b.labelBlockEnd(s), seed, key);
    }
  },
);

function processAndCommit(pipeline: WritePipeline, i: number): void {
  const result = pipeline.process(principal, body(i), now);
  if (result.droppedDuplicates + result.droppedOutOfOrder > 0) throw new Error('the bench sent a sample twice: it would measure the drop path');
  result.highWaterMarks.commit();
}
time('pipeline, fast path (forward as received)', BATCH, (i) => processAndCommit(fast, i), () => fast.highWaterMarks?.clear());
time('pipeline, rewrite path (tenant_label)', BATCH, (i) => processAndCommit(rewrite, i), () => rewrite.highWaterMarks?.clear());
time('pipeline, fast path, high-water mark off', BATCH, (i) => processAndCommit(fastOff, i));
time('pipeline, rewrite path, high-water mark off', BATCH, (i) => processAndCommit(rewriteOff, i));
