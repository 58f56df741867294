/**
 * Pre-encoded remote-write 1.0 requests (protobuf, then snappy), built before the timed phase so
 * the load generator spends no CPU encoding.
 *
 * The series set is laid out as an endless sequence of scrapes: position p is series p mod S at
 * scrape floor(p / S). Request i carries positions [i*batch, (i+1)*batch), so each request has
 * `batch` samples, one per series (as Prometheus sends them; several only when batch > series),
 * and every series' timestamps grow from one request to the next. The set is cycled during the
 * run; a sink does not care that timestamps repeat then.
 */
import protobuf from 'protobufjs';
import { compress } from 'snappyjs';
import { type Series, seriesValue } from './series.js';

/** The RW 1.0 messages, defined here so the bench does not depend on the .proto files' location. */
const prometheus = new protobuf.Namespace('prometheus');
prometheus.add(new protobuf.Type('Label').add(new protobuf.Field('name', 1, 'string')).add(new protobuf.Field('value', 2, 'string')));
prometheus.add(new protobuf.Type('Sample').add(new protobuf.Field('value', 1, 'double')).add(new protobuf.Field('timestamp', 2, 'int64')));
prometheus.add(
  new protobuf.Type('TimeSeries')
    .add(new protobuf.Field('labels', 1, 'Label', 'repeated'))
    .add(new protobuf.Field('samples', 2, 'Sample', 'repeated')),
);
prometheus.add(new protobuf.Type('WriteRequest').add(new protobuf.Field('timeseries', 1, 'TimeSeries', 'repeated')));
new protobuf.Root().add(prometheus);
const WriteRequest = prometheus.lookupType('WriteRequest');

export interface PreparedRequest {
  /** Snappy-compressed WriteRequest. */
  readonly body: Buffer;
  readonly samples: number;
  readonly series: number;
  /** Size before compression. */
  readonly rawBytes: number;
}

export interface PreparedSet {
  readonly requests: readonly PreparedRequest[];
  readonly compressedBytes: number;
  readonly rawBytes: number;
  /** Distinct series the set touches (all of them unless capped by `maxCompressedBytes`). */
  readonly seriesCovered: number;
  readonly firstTimestampMs: number;
  readonly lastTimestampMs: number;
}

export interface PrepareOptions {
  readonly series: readonly Series[];
  /** Samples per request. */
  readonly batch: number;
  /** How many requests to build; default: every series at least once, and at least 16. */
  readonly requests?: number;
  /** Stop building once the compressed set reaches this size (default 256 MiB). */
  readonly maxCompressedBytes?: number;
  /** Scrape interval between a series' samples (default 15 s). */
  readonly intervalMs?: number;
  /** Timestamp of the newest sample (default: now, so nothing lies in the future). */
  readonly endMs?: number;
}

interface PlainSeries {
  labels: readonly { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
}

/** Requests needed to give every series one sample. */
export function requestsToCover(seriesCount: number, batch: number): number {
  return Math.ceil(seriesCount / batch);
}

/** The series indices and scrape numbers of request `index`, in order of first appearance. */
export function requestLayout(index: number, batch: number, seriesCount: number): { series: number; scrapes: number[] }[] {
  const bySeries = new Map<number, number[]>();
  const first = index * batch;
  for (let p = first; p < first + batch; p++) {
    const s = p % seriesCount;
    const k = Math.floor(p / seriesCount);
    const list = bySeries.get(s);
    if (list) list.push(k);
    else bySeries.set(s, [k]);
  }
  return [...bySeries].map(([series, scrapes]) => ({ series, scrapes }));
}

export function prepareRequests(options: PrepareOptions): PreparedSet {
  const { series, batch } = options;
  const S = series.length;
  if (S === 0) throw new Error('no series to encode');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer (got ${batch})`);
  const wanted = options.requests ?? Math.max(requestsToCover(S, batch), 16);
  const cap = options.maxCompressedBytes ?? 256 * 1024 * 1024;
  const interval = options.intervalMs ?? 15_000;
  const lastScrape = Math.floor((wanted * batch - 1) / S);
  const endMs = options.endMs ?? Date.now();
  const startMs = endMs - lastScrape * interval;

  const requests: PreparedRequest[] = [];
  let compressedBytes = 0;
  let rawBytes = 0;
  let positions = 0;
  for (let i = 0; i < wanted && compressedBytes < cap; i++) {
    const timeseries: PlainSeries[] = [];
    for (const { series: si, scrapes } of requestLayout(i, batch, S)) {
      const s = series[si];
      if (s === undefined) throw new Error(`series ${si} out of range`);
      timeseries.push({ labels: s.labels, samples: scrapes.map((k) => ({ value: seriesValue(s, k), timestamp: startMs + k * interval })) });
    }
    const raw = WriteRequest.encode({ timeseries }).finish();
    const body = Buffer.from(compress(raw));
    requests.push({ body, samples: batch, series: timeseries.length, rawBytes: raw.length });
    compressedBytes += body.length;
    rawBytes += raw.length;
    positions += batch;
  }
  const lastK = Math.floor((positions - 1) / S);
  return {
    requests,
    compressedBytes,
    rawBytes,
    seriesCovered: Math.min(S, positions),
    firstTimestampMs: startMs,
    lastTimestampMs: startMs + lastK * interval,
  };
}
