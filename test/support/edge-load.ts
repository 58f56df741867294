/**
 * A bounded load generator that behaves like edge Prometheus shards: each shard owns its own
 * series and sends one request at a time (so per-series order is the sender's), retries 5xx, 429
 * and connection errors with the same body, and drops a batch on other 4xx. It counts the samples
 * of every request answered 2xx: what tributary acknowledged.
 */
import { compress } from 'snappyjs';
import { reference } from './reference-codec.js';

export interface EdgeLoadOptions {
  /** tributary's base URL. */
  readonly url: string;
  readonly token: string;
  /** Value of the `run` label, so a test finds its own series at central. */
  readonly run: string;
  readonly cluster: string;
  readonly shards: number;
  readonly seriesPerShard: number;
  /** Timestamp of the first sample; each request advances it by `stepMs`. */
  readonly startMs: number;
  readonly stepMs: number;
  /** Upper bound on requests per shard (bounded load). */
  readonly maxRequestsPerShard: number;
  /** Pause between requests of one shard. */
  readonly intervalMs?: number;
}

export class EdgeLoad {
  acknowledgedSamples = 0;
  acknowledgedRequests = 0;
  /** Answers other than 2xx, by status ("network" for connection errors). */
  readonly refusals = new Map<string, number>();
  #stopped = false;
  #loops: Promise<void>[] = [];
  readonly #options: EdgeLoadOptions;

  constructor(options: EdgeLoadOptions) {
    this.#options = options;
  }

  start(): void {
    for (let shard = 0; shard < this.#options.shards; shard++) this.#loops.push(this.#runShard(shard));
  }

  /** Stop sending new requests; resolves when every shard's current request is settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  /** Resolves when every shard sent all its requests (or stop() was called). */
  async finished(): Promise<void> {
    await Promise.all(this.#loops);
  }

  #body(shard: number, request: number): { body: Buffer; samples: number } {
    const o = this.#options;
    const timestamp = o.startMs + request * o.stepMs;
    const timeseries = [];
    for (let i = 0; i < o.seriesPerShard; i++) {
      timeseries.push({
        labels: [
          { name: '__name__', value: 'e2e_load' },
          { name: 'cluster', value: o.cluster },
          { name: 'run', value: o.run },
          { name: 'series', value: `${shard}-${i}` },
        ],
        samples: [{ value: request, timestamp }],
      });
    }
    return { body: Buffer.from(compress(reference.encode({ timeseries }))), samples: o.seriesPerShard };
  }

  #count(status: string): void {
    this.refusals.set(status, (this.refusals.get(status) ?? 0) + 1);
  }

  async #runShard(shard: number): Promise<void> {
    const o = this.#options;
    for (let request = 0; request < o.maxRequestsPerShard && !this.#stopped; request++) {
      const { body, samples } = this.#body(shard, request);
      // Retry the same body until it is settled, as Prometheus does (5xx, 429 with retry_on_http_429, network).
      for (;;) {
        let status: number;
        try {
          const res = await fetch(`${o.url}/api/v1/write`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${o.token}`,
              'content-type': 'application/x-protobuf',
              'content-encoding': 'snappy',
              'x-prometheus-remote-write-version': '0.1.0',
            },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer();
          status = res.status;
        } catch {
          this.#count('network');
          if (this.#stopped) return;
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        if (status >= 200 && status < 300) {
          this.acknowledgedSamples += samples;
          this.acknowledgedRequests++;
          break;
        }
        this.#count(String(status));
        if (status < 500 && status !== 429) break;
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (o.intervalMs) await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  }
}
