/**
 * Test support for the forward stage: a reference RW 1.0 codec built with protobufjs reflection
 * (independent of tributary's own hand-written codec), queue item builders, a local HTTP sink that
 * records what it receives and fails on demand, and a polling `eventually`.
 */
import { once } from 'node:events';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter } from 'prom-client';
import protobuf from 'protobufjs';
import { compress, uncompress } from 'snappyjs';
import type { BackendConfig } from '../../src/config/schema.js';
import type { QueueItemInput } from '../../src/queue/queue.js';
import { type RefWriteRequest, reference } from './reference-codec.js';

// ---- reference codec (remote.proto / types.proto, the fields tests need) ----

const Label = new protobuf.Type('Label').add(new protobuf.Field('name', 1, 'string')).add(new protobuf.Field('value', 2, 'string'));
const Sample = new protobuf.Type('Sample').add(new protobuf.Field('value', 1, 'double')).add(new protobuf.Field('timestamp', 2, 'int64'));
const TimeSeries = new protobuf.Type('TimeSeries')
  .add(new protobuf.Field('labels', 1, 'Label', 'repeated'))
  .add(new protobuf.Field('samples', 2, 'Sample', 'repeated'));
const WriteRequest = new protobuf.Type('WriteRequest').add(new protobuf.Field('timeseries', 1, 'TimeSeries', 'repeated'));
new protobuf.Root().define('prometheus').add(Label).add(Sample).add(TimeSeries).add(WriteRequest);

export interface TestSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly samples: ReadonlyArray<readonly [value: number, timestampMs: number]>;
}

/** Encode series as an uncompressed WriteRequest (labels sorted by name, as the spec requires). */
export function encodeWriteRequestRaw(series: readonly TestSeries[]): Buffer {
  const message = WriteRequest.create({
    timeseries: series.map((s) => ({
      labels: Object.keys(s.labels)
        .sort()
        .map((name) => ({ name, value: s.labels[name] })),
      samples: s.samples.map(([value, timestamp]) => ({ value, timestamp })),
    })),
  });
  return Buffer.from(WriteRequest.encode(message).finish());
}

/** Encode and snappy-compress: a remote-write request body. */
export function encodeWriteRequest(series: readonly TestSeries[]): Buffer {
  return Buffer.from(compress(encodeWriteRequestRaw(series)));
}

/** Decompress and decode a remote-write request body. */
export function decodeWriteRequest(body: Uint8Array): TestSeries[] {
  const decoded = WriteRequest.toObject(WriteRequest.decode(uncompress(body)), { longs: Number, arrays: true }) as {
    timeseries: Array<{ labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> }>;
  };
  return decoded.timeseries.map((ts) => ({
    labels: Object.fromEntries(ts.labels.map((l) => [l.name, l.value])),
    samples: ts.samples.map((s) => [s.value, s.timestamp] as const),
  }));
}

/**
 * A queue item whose payload holds one series per name in `batch`, each with `samplesPerSeries`
 * samples; the `batch` label identifies where the series came from when the sink decodes them.
 */
export function makeItem(options: {
  backend: string;
  shard?: number;
  tenant?: string;
  batch: string;
  seriesCount?: number;
  samplesPerSeries?: number;
}): QueueItemInput {
  const seriesCount = options.seriesCount ?? 1;
  const samplesPerSeries = options.samplesPerSeries ?? 1;
  const series: TestSeries[] = [];
  for (let i = 0; i < seriesCount; i++) {
    series.push({
      labels: { __name__: 'test_metric', batch: options.batch, series: String(i) },
      samples: Array.from({ length: samplesPerSeries }, (_, j) => [j, 1_700_000_000_000 + j] as const),
    });
  }
  return {
    backend: options.backend,
    shard: options.shard ?? 0,
    payload: encodeWriteRequest(series),
    samples: seriesCount * samplesPerSeries,
    histograms: 0,
    exemplars: 0,
    metadata: 0,
    tenant: options.tenant ?? 'team-a',
  };
}

/** A queue item holding exactly `series` (in order); `samples` counts their samples. */
export function seriesItem(options: { backend: string; shard?: number; tenant?: string; series: readonly TestSeries[] }): QueueItemInput {
  return {
    backend: options.backend,
    shard: options.shard ?? 0,
    payload: encodeWriteRequest(options.series),
    samples: options.series.reduce((n, s) => n + s.samples.length, 0),
    histograms: 0,
    exemplars: 0,
    metadata: 0,
    tenant: options.tenant ?? 'team-a',
  };
}

/**
 * `count` series labelled `{__name__="test_metric", batch, series="<i>"}` with `samplesPerSeries`
 * samples each; `extra(i)` adds labels to series i (e.g. to make one of them bad).
 */
export function testSeries(
  batch: string,
  count: number,
  samplesPerSeries = 1,
  extra: (i: number) => Readonly<Record<string, string>> = () => ({}),
): TestSeries[] {
  return Array.from({ length: count }, (_, i) => ({
    labels: { __name__: 'test_metric', batch, series: String(i), ...extra(i) },
    samples: Array.from({ length: samplesPerSeries }, (_, j) => [j, 1_700_000_000_000 + j] as const),
  }));
}

/** A request body as the reference codec (protobufjs on proto/prompb) reads it. */
export function referenceDecode(body: Uint8Array): RefWriteRequest {
  return reference.decode(uncompress(body));
}

/** A series' labels as a record (reference codec shape). */
export function labelsOf(series: { labels: ReadonlyArray<{ name: string; value: string }> }): Record<string, string> {
  return Object.fromEntries(series.labels.map((l) => [l.name, l.value]));
}

/** A backend as the config schema would give it, with test-friendly timings. */
export function backendConfig(url: string, overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: 'central',
    url,
    headers: {},
    accepts_native_histograms: false,
    shards: 1,
    max_samples_per_send: 1000,
    batch_send_deadline: 0,
    min_backoff: 5,
    max_backoff: 40,
    remote_timeout: 2000,
    max_queue_age: 0,
    max_queue_bytes: 1 << 20,
    write_relabel_configs: [],
    ...overrides,
  };
}

/** The value of the child of `metric` whose labels include `labels` (0 when there is none). */
export async function counterValue(metric: Pick<Counter<string>, 'get'>, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const found = values.find((v) => {
    const actual: Readonly<Record<string, string | number | undefined>> = v.labels;
    return Object.entries(labels).every(([name, value]) => actual[name] === value);
  });
  return found?.value ?? 0;
}

// ---- HTTP sink ----

export interface SinkRequest {
  readonly index: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly status: number;
  /** performance.now() when the request body had arrived. */
  readonly receivedAtMs: number;
}

export interface SinkReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Decides each answer; `index` counts every request the sink received, from 0. */
export type SinkResponder = (request: { index: number; headers: IncomingHttpHeaders; body: Buffer }) => SinkReply;

/** A fake remote-write backend on 127.0.0.1. */
export class HttpSink {
  /** Every request received, in arrival order, with the status it was answered. */
  readonly requests: SinkRequest[] = [];
  respond: SinkResponder;
  private readonly server: Server;

  private constructor(server: Server, respond: SinkResponder) {
    this.server = server;
    this.respond = respond;
  }

  /** Start listening; `port` 0 (the default) picks a free one. */
  static async start(options: { port?: number; respond?: SinkResponder } = {}): Promise<HttpSink> {
    const server = createServer();
    const sink = new HttpSink(server, options.respond ?? (() => ({ status: 204 })));
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const index = sink.requests.length;
        const body = Buffer.concat(chunks);
        const reply = sink.respond({ index, headers: req.headers, body });
        sink.requests.push({ index, headers: req.headers, body, status: reply.status, receivedAtMs: performance.now() });
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body);
      });
    });
    server.listen(options.port ?? 0, '127.0.0.1');
    await once(server, 'listening');
    return sink;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The remote-write URL of this sink. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/api/v1/write`;
  }

  /** Requests answered 2xx: what the backend actually stored. */
  accepted(): SinkRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  /** The `batch` label of every series stored (2xx only), in arrival order. */
  acceptedBatchLabels(): string[] {
    return this.accepted().flatMap((r) => decodeWriteRequest(r.body).map((s) => s.labels.batch ?? '?'));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** A port that was free a moment ago (for "backend not up yet" tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Poll `condition` until it holds, or fail after `timeoutMs` with `what` in the message. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 4000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
