/**
 * The HTTP route never crashes, hangs or answers 500 on random, truncated or corrupted bodies:
 * every answer is 204 or a 400 with a known reason.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { compress } from 'snappyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createPrincipal } from '../../src/auth/principal.js';
import { NO_LIMITS } from '../../src/limits/limits.js';
import { RateLimiter } from '../../src/limits/rate-limiter.js';
import { Metrics } from '../../src/observability/metrics.js';
import { WritePipeline } from '../../src/pipeline.js';
import { MemoryQueue } from '../../src/queue/memory-queue.js';

const FIXTURES = ['req-001.bin', 'req-002.bin', 'req-005.bin'].map((f) =>
  readFileSync(new URL(`../fixtures/prometheus-2.42-agent/${f}`, import.meta.url)),
);
const KNOWN_400 = /\(tributary: (bad_snappy|bad_protobuf|decoded_too_large|invalid_label_name|duplicate_label|empty_label_name|missing_metric_name|invalid_utf8|empty_labelset|too_far_in_future|cluster_mismatch|cluster_missing)\)\n$/;

describe('write route under random input', () => {
  const queue = new MemoryQueue({ backends: [{ name: 'b', shards: 2, maxQueueBytes: 1 << 30 }] });
  const principal = createPrincipal('team-a', 'tok_fuzz', ['edge-a']);
  const pipeline = new WritePipeline({
    clusterLabel: 'cluster',
    futureGraceMs: 600_000,
    maxDecodedBytes: 1 << 20,
    backends: [{ name: 'b', shards: 2, tenantLabel: 'tenant', acceptsNativeHistograms: false }],
    policyFor: () => ({ missing: 'inject', mismatch: 'override' }),
  });
  const app = buildApp({
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(new Registry()),
    queue,
    authenticate: () => principal,
    pipeline: () => pipeline,
    limiter: new RateLimiter(() => NO_LIMITS),
    tenants: { check: () => undefined, limitsOf: () => NO_LIMITS },
    maxBodyBytes: 1 << 20,
    now: () => Date.now(),
    isShuttingDown: () => false,
    isReady: () => true,
  });
  beforeAll(async () => {
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  async function post(payload: Uint8Array): Promise<{ status: number; body: string }> {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/write',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
      payload: Buffer.from(payload),
    });
    // Drain the queue so it never fills during the run.
    for (const shard of [0, 1]) {
      const items = queue.peek('b', shard, 1_000_000, Number.MAX_SAFE_INTEGER);
      const last = items.at(-1);
      if (last) queue.ack('b', shard, last.seq);
    }
    return { status: res.statusCode, body: res.body };
  }

  function expectKnownAnswer(res: { status: number; body: string }): void {
    if (res.status === 204) return;
    expect(res.status, res.body).toBe(400);
    expect(res.body).toMatch(KNOWN_400);
  }

  it('answers the real captures with 204', async () => {
    for (const f of FIXTURES) expect((await post(f)).status).toBe(204);
  });

  it('answers random bytes with 204 or a 400 naming a reason', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => expectKnownAnswer(await post(bytes))),
      { numRuns: 300 },
    );
  });

  it('answers snappy-compressed random protobuf-ish bytes with 204 or a known 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => expectKnownAnswer(await post(compress(bytes)))),
      { numRuns: 300 },
    );
  });

  it('answers truncated and bit-flipped real captures with 204 or a known 400', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FIXTURES.map((_f, i) => i)),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        async (which, cut, flip, decompressedFlip) => {
          const original = FIXTURES[which] as Buffer;
          const copy = Buffer.from(original);
          if (decompressedFlip) {
            const i = flip % copy.length;
            copy[i] = (copy[i] as number) ^ (1 << (flip % 8));
            expectKnownAnswer(await post(copy));
          } else {
            expectKnownAnswer(await post(copy.subarray(0, cut % copy.length)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
