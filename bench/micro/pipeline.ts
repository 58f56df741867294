/**
 * Micro-benchmark of the receive pipeline in one thread, no HTTP: where the CPU per sample goes.
 * Run: npm run build && node dist/bench/micro/pipeline.js
 *
 * Stages timed separately on the same realistic 2000-sample requests: snappy decompression,
 * protobuf decode into the WireBatch, and the whole `WritePipeline.process` on the fast path
 * (nothing changes: the body is forwarded as it arrived) and on the rewrite path (the backend adds
 * a tenant label, so every series is re-encoded and compressed).
 */
import { createPrincipal } from '../../src/auth/principal.js';
import { WireBatch } from '../../src/model/batch.js';
import { type RouteTarget, WritePipeline } from '../../src/pipeline.js';
import { decodeWriteRequest } from '../../src/wire/rw1-decode.js';
import { decompressBody } from '../../src/wire/snappy.js';
import { prepareRequests } from '../lib/requests.js';
import { generateSeries } from '../lib/series.js';

const SERIES = 10_000;
const BATCH = 2000;
const ROUNDS = 100;
const REPETITIONS = 7;

function pipelineFor(backend: RouteTarget): WritePipeline {
  return new WritePipeline({
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 32 << 20,
    backends: [backend],
    policyFor: () => ({ missing: 'inject', mismatch: 'reject' }),
  });
}

/** Best of several timed repetitions: this machine's neighbours add noise, the minimum is the code. */
function time(name: string, samplesPerRound: number, run: (round: number) => void): void {
  for (let i = 0; i < 30; i++) run(i); // warm up
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < REPETITIONS; rep++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++) run(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  const perSample = best / (ROUNDS * samplesPerRound);
  console.log(`${name.padEnd(44)} ${perSample.toFixed(0).padStart(6)} ns/sample  ${(1e9 / perSample / 1e3).toFixed(0).padStart(6)}k samples/s/core`);
}

const series = generateSeries({ count: SERIES, cluster: 'bench' });
const { requests } = prepareRequests({ series, batch: BATCH, requests: 16 });
const bodies = requests.map((r) => r.body);
const principal = createPrincipal('bench', 'tok_bench', ['bench']);
const batch = new WireBatch();
const fast = pipelineFor({ name: 'sink', shards: 4, tenantLabel: undefined, acceptsNativeHistograms: false });
const rewrite = pipelineFor({ name: 'sink', shards: 4, tenantLabel: 'tenant', acceptsNativeHistograms: false });
const body = (i: number) => bodies[i % bodies.length] as Buffer;
const now = Date.now();

console.log(`${SERIES} series, ${BATCH} samples per request, ${(bodies.reduce((a, b) => a + b.length, 0) / bodies.length / BATCH).toFixed(1)} compressed bytes per sample`);
time('snappy decompress', BATCH, (i) => decompressBody(body(i), 32 << 20));
const raws = bodies.map((b) => decompressBody(b, 32 << 20));
time('protobuf decode (WireBatch)', BATCH, (i) => decodeWriteRequest(raws[i % raws.length] as Buffer, batch));
time('pipeline, fast path (forward as received)', BATCH, (i) => fast.process(principal, body(i), now));
time('pipeline, rewrite path (tenant_label)', BATCH, (i) => rewrite.process(principal, body(i), now));
