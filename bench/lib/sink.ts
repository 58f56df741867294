/**
 * A fast remote-write backend for the bench: answers 204 to `POST /api/v1/write` without looking
 * at the body beyond the snappy header (its declared uncompressed length), counts requests and
 * bytes, and decodes a random one request in `decodeEvery` to count samples exactly there; the total is
 * then estimated from the uncompressed bytes (exact when decodeEvery is 1). `GET /stats` answers
 * the counts as JSON. Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompress } from 'snappyjs';
import { countWriteRequest, snappyDeclaredLength } from './pbcount.js';

export interface SinkStats {
  requests: number;
  /** Compressed bytes received. */
  bytes: number;
  /** Uncompressed bytes, as the snappy headers declare them. */
  rawBytes: number;
  decodedRequests: number;
  decodedRawBytes: number;
  decodedSeries: number;
  decodedSamples: number;
  /** Samples received: exact when every request is decoded, else estimated from rawBytes. */
  samples: number;
  samplesExact: boolean;
  /** Bodies that could not be decoded (they were still answered 204). */
  malformed: number;
  /** Writes answered 503 during an outage asked for with POST /control/fail. */
  refused: number;
  firstRequestAtMs: number | null;
  lastRequestAtMs: number | null;
  /** The sink's own CPU time so far, in µs. */
  cpuUserUs: number;
  cpuSystemUs: number;
}

export interface SinkOptions {
  /** Decode every N-th request (1 = all, exact counts; 0 = none). */
  readonly decodeEvery: number;
  readonly port?: number;
}

export interface RunningSink {
  readonly port: number;
  readonly server: Server;
  stats(): SinkStats;
  close(): Promise<void>;
}

export function startSink(options: SinkOptions): Promise<RunningSink> {
  const decodeEvery = Math.max(0, Math.floor(options.decodeEvery));
  const s = {
    requests: 0,
    bytes: 0,
    rawBytes: 0,
    decodedRequests: 0,
    decodedRawBytes: 0,
    decodedSeries: 0,
    decodedSamples: 0,
    malformed: 0,
    refused: 0,
    firstRequestAtMs: null as number | null,
    lastRequestAtMs: null as number | null,
  };

  const stats = (): SinkStats => {
    const exact = decodeEvery === 1;
    const samples = exact
      ? s.decodedSamples
      : s.decodedRawBytes > 0
        ? Math.round((s.rawBytes * s.decodedSamples) / s.decodedRawBytes)
        : 0;
    const cpu = process.cpuUsage();
    return { ...s, samples, samplesExact: exact, cpuUserUs: cpu.user, cpuSystemUs: cpu.system };
  };

  // An outage on demand (POST /control/fail?ms=N): writes are answered 503 until then.
  let failUntilMs = 0;

  const onWrite = (req: IncomingMessage, res: ServerResponse): void => {
    if (Date.now() < failUntilMs) {
      s.refused++;
      req.resume();
      req.on('end', () => {
        res.statusCode = 503;
        res.end('sink outage (bench)\n');
      });
      return;
    }
    // Chosen at random, not every N-th: a target's senders take turns, so a fixed stride would
    // keep picking the same shard and bias the estimate.
    const decode = decodeEvery === 1 || (decodeEvery > 1 && Math.random() * decodeEvery < 1);
    const chunks: Buffer[] = [];
    let head: Buffer | undefined;
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (decode) chunks.push(chunk);
      else if (head === undefined) head = chunk.length >= 10 ? chunk : Buffer.from(chunk);
      else if (head.length < 10) head = Buffer.concat([head, chunk]);
    });
    req.on('end', () => {
      s.requests++;
      s.bytes += size;
      const now = Date.now();
      s.firstRequestAtMs ??= now;
      s.lastRequestAtMs = now;
      if (decode) {
        const body = Buffer.concat(chunks, size);
        try {
          const raw = uncompress(body);
          const counts = countWriteRequest(raw);
          s.rawBytes += raw.length;
          s.decodedRequests++;
          s.decodedRawBytes += raw.length;
          s.decodedSeries += counts.series;
          s.decodedSamples += counts.samples;
        } catch {
          s.malformed++;
        }
      } else {
        const declared = head ? snappyDeclaredLength(head) : undefined;
        if (declared === undefined) s.malformed++;
        else s.rawBytes += declared;
      }
      res.statusCode = 204;
      res.end();
    });
    req.on('error', () => res.destroy());
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/api/v1/write') {
      onWrite(req, res);
      return;
    }
    req.resume();
    if (req.method === 'POST' && path === '/control/fail') {
      const ms = Number(new URL(req.url ?? '/', 'http://sink').searchParams.get('ms') ?? '0');
      failUntilMs = Date.now() + (Number.isFinite(ms) ? ms : 0);
      res.end('ok\n');
      return;
    }
    if (req.method === 'GET' && path === '/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(stats()));
      return;
    }
    if (req.method === 'GET' && (path === '/-/ready' || path === '/-/healthy')) {
      res.end('ok\n');
      return;
    }
    res.statusCode = 404;
    res.end('not found\n');
  });
  server.keepAliveTimeout = 60_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        server,
        stats,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
