/**
 * A whole tributary in-process for integration tests: startServer (HTTP, auth, pipeline, queue,
 * forwarder) with a config of test tokens, in front of a fake backend (HttpSink) that fails on
 * demand; plus request builders and a /metrics reader.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compress, uncompress } from 'snappyjs';
import { type Running, startServer } from '../../src/server.js';
import { HttpSink } from './forward-helpers.js';
import { type RefTimeSeriesInput, type RefWriteRequest, doubleFromBits, reference } from './reference-codec.js';

export const TOKEN_A = 'trib_test-token-team-a';
export const TOKEN_MULTI = 'trib_test-token-team-m';
export const TOKEN_OVERRIDE = 'trib_test-token-team-o';
export const sha = (t: string) => createHash('sha256').update(t).digest('hex');
export const STALE_NAN = doubleFromBits(0x7ff0000000000002n);

export function body(timeseries: RefTimeSeriesInput[], metadata: RefWriteRequest['metadata'] = []): Buffer {
  return Buffer.from(compress(reference.encode({ timeseries, metadata })));
}

export function series(labels: Record<string, string>, samples: Array<[number, number]>, extra: Partial<RefTimeSeriesInput> = {}): RefTimeSeriesInput {
  return { labels: Object.entries(labels).map(([name, value]) => ({ name, value })), samples: samples.map(([value, timestamp]) => ({ value, timestamp })), ...extra };
}

export function decodeBody(payload: Buffer): RefWriteRequest {
  return reference.decode(Buffer.from(uncompress(payload)));
}

export function labelsOf(ts: RefWriteRequest['timeseries'][number]): Record<string, string> {
  return Object.fromEntries(ts.labels.map((l) => [l.name, l.value]));
}

export interface Env {
  sink: HttpSink;
  server: Running;
  url: string;
  dir: string;
  metricsText(): Promise<string>;
  received(): RefWriteRequest['timeseries'];
  close(): Promise<void>;
}

/**
 * `backendYaml` goes into the sink backend's entry, `extraYaml` at the top level, `tenantsYaml`
 * under `tenants:` (after team-o's cluster lock, indented as a tenant's fields: 4 spaces).
 */
export async function startEnv(backendYaml = '', extraYaml = '', tenantsYaml = ''): Promise<Env> {
  const sink = await HttpSink.start();
  const dir = mkdtempSync(join(tmpdir(), 'tributary-it-'));
  const config = join(dir, 'tributary.yml');
  writeFileSync(
    config,
    `server:
  listen_address: 127.0.0.1:0
  max_body_bytes: 200000
  max_decoded_bytes: 1000000
data_dir: ${join(dir, 'data')}
tenants:
  team-o:
    cluster_lock: {mismatch: override}
${tenantsYaml}tokens:
  - {tenant: team-a, clusters: [edge-a], token_sha256: ${sha(TOKEN_A)}}
  - {tenant: team-m, clusters: [m-1, m-2], token_sha256: ${sha(TOKEN_MULTI)}}
  - {tenant: team-o, clusters: [edge-o], token_sha256: ${sha(TOKEN_OVERRIDE)}}
backends:
  - name: sink
    url: ${sink.url}
    min_backoff: 10ms
    max_backoff: 50ms
${backendYaml}${extraYaml}`,
  );
  const server = await startServer(config, pino({ level: 'silent' }));
  const url = `http://${server.address}`;
  return {
    sink,
    server,
    url,
    dir,
    metricsText: async () => (await fetch(`${url}/metrics`)).text(),
    received: () => sink.accepted().flatMap((r) => decodeBody(r.body).timeseries),
    close: async () => {
      await server.close();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function push(
  url: string,
  payload: Buffer | string,
  token: string | null = TOKEN_A,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const h: Record<string, string> = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/v1/write`, { method: 'POST', headers: h, body: payload });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
