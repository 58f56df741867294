/**
 * The load generator: `concurrency` senders, each with at most one request in flight, cycling
 * through pre-encoded requests for a fixed time, over an undici Pool with one connection per
 * sender. The schedule (schedule.ts) numbers the sends, keeps the sends sharing a series in order
 * and gives each send fresh timestamps. Latency is recorded per request in µs.
 */
import type { Histogram } from 'hdr-histogram-js';
import type { Pool } from 'undici';
import type { SendSchedule } from './schedule.js';

export interface DriveOptions {
  readonly pool: Pool;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Which request to send next, when, and with which timestamps; carries on from one drive to the next. */
  readonly schedule: SendSchedule;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Latencies of accepted and rejected requests alike, in µs. */
  readonly histogram: Histogram;
  /** Polled between requests: a reason to stop early (the target died), or undefined. */
  readonly abortReason?: () => string | undefined;
}

export interface DriveResult {
  readonly elapsedMs: number;
  readonly sentRequests: number;
  readonly sentBytes: number;
  readonly acceptedRequests: number;
  readonly acceptedSamples: number;
  readonly acceptedBytes: number;
  /** Non-2xx answers by status, and transport errors as `error:<code>`. */
  readonly failures: ReadonlyMap<string, number>;
  /** The first body (or message) seen per failure kind, cut to 300 characters. */
  readonly failureExamples: ReadonlyMap<string, string>;
  readonly abortedBecause: string | undefined;
  /** Sum of the requests' send-to-answer times: ÷ elapsedMs is the mean number in flight. */
  readonly busyMs: number;
  /** Sends that waited for an earlier send sharing a series, and the time they waited. */
  readonly gatedSends: number;
  readonly gateWaitMs: number;
}

export async function drive(options: DriveOptions): Promise<DriveResult> {
  const { pool, path, headers, schedule, histogram } = options;
  const gated0 = schedule.gatedSends;
  const gateWait0 = schedule.gateWaitMs;
  let busyNs = 0n;
  let sentRequests = 0;
  let sentBytes = 0;
  let acceptedRequests = 0;
  let acceptedSamples = 0;
  let acceptedBytes = 0;
  const failures = new Map<string, number>();
  const failureExamples = new Map<string, string>();
  let abortedBecause: string | undefined;
  const fail = (kind: string, example: string): void => {
    failures.set(kind, (failures.get(kind) ?? 0) + 1);
    if (!failureExamples.has(kind)) failureExamples.set(kind, example.slice(0, 300));
  };

  const start = performance.now();
  const deadline = start + options.durationMs;

  const sender = async (): Promise<void> => {
    while (performance.now() < deadline && abortedBecause === undefined) {
      const reason = options.abortReason?.();
      if (reason !== undefined) {
        abortedBecause = reason;
        return;
      }
      const slot = await schedule.acquire();
      const req = slot.request;
      sentRequests++;
      sentBytes += req.body.length;
      const t0 = process.hrtime.bigint();
      try {
        const res = await pool.request({ path, method: 'POST', headers, body: req.body });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          await res.body.dump();
          acceptedRequests++;
          acceptedSamples += req.samples;
          acceptedBytes += req.body.length;
        } else {
          const text = await res.body.text();
          fail(String(res.statusCode), text.trim());
        }
        const ns = process.hrtime.bigint() - t0;
        busyNs += ns;
        histogram.recordValue(Math.max(1, Number(ns / 1000n)));
      } catch (err) {
        busyNs += process.hrtime.bigint() - t0;
        const e = err as NodeJS.ErrnoException;
        fail(`error:${e.code ?? e.name}`, e.message);
        slot.release();
        // Do not spin on a dead target.
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      // Answered: the next send of this request (or of one sharing its series) may go.
      slot.release();
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, () => sender()));
  return {
    elapsedMs: performance.now() - start,
    sentRequests,
    sentBytes,
    acceptedRequests,
    acceptedSamples,
    acceptedBytes,
    failures,
    failureExamples,
    abortedBecause,
    busyMs: Number(busyNs) / 1e6,
    gatedSends: schedule.gatedSends - gated0,
    gateWaitMs: schedule.gateWaitMs - gateWait0,
  };
}
