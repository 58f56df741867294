/**
 * Pre-encoded remote-write 1.0 requests (protobuf, then snappy), built before the timed phase so
 * the load generator spends no CPU encoding.
 *
 * The series set is laid out as a sequence of scrapes, each request carrying one scrape of one
 * group of consecutive series: with g = min(batch, series) and G = ceil(series / g) groups, request
 * i is scrape floor(i / G) of series [(i mod G) * g, min((i mod G + 1) * g, series)). So a request
 * has `batch` samples, one per series, all with the same timestamp (the last group of a scrape has
 * fewer when `batch` does not divide the series count; with batch > series a request carries
 * every series once). Scrape k has timestamp firstTimestampMs + k * intervalMs, so every series'
 * timestamps grow from one request to the next.
 *
 * One timestamp per request is what lets the ingest bench cycle through the set with fresh
 * timestamps (`freshTimestamps`): see tspatch.ts. Two scrapes in one request (the old layout when
 * a request straddled the end of a scrape, or several samples per series) give the compressor
 * coincidental matches between the two timestamps' common bytes, which make a request unpatchable
 * (measured: 5 of 40 requests with 10,000 series and batch 3,000, all of them with batch > series).
 */
import protobuf from 'protobufjs';
import { compress, uncompress } from 'snappyjs';
import { type Series, seriesValue } from './series.js';
import { findTimestampFields, type PatchPlan, patchTimestamps, planTimestampPatch, SIX_BYTE_VARINT_END, SIX_BYTE_VARINT_MIN, writeVarint } from './tspatch.js';

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
  /** Snappy-compressed WriteRequest. Rewritten in place when timestamps are patched. */
  readonly body: Buffer;
  readonly samples: number;
  readonly series: number;
  /** Size before compression. */
  readonly rawBytes: number;
  /** The scrape it carries: its timestamp is firstTimestampMs + scrape * intervalMs. */
  readonly scrape: number;
  /** The series it carries (indices into the series list): [seriesFrom, seriesTo). */
  readonly seriesFrom: number;
  readonly seriesTo: number;
  /** Where its timestamp bytes are in `body` (only with `freshTimestamps`). */
  readonly patch: PatchPlan | undefined;
}

export interface PreparedSet {
  readonly requests: readonly PreparedRequest[];
  readonly compressedBytes: number;
  readonly rawBytes: number;
  /** Samples in all the requests together. */
  readonly samples: number;
  /** Distinct series the set touches (all of them unless capped by `maxCompressedBytes`). */
  readonly seriesCovered: number;
  readonly firstTimestampMs: number;
  readonly lastTimestampMs: number;
  readonly intervalMs: number;
  /** Scrapes the set spans (a series appears at most this many times in it). */
  readonly scrapes: number;
  /** With `freshTimestamps`: requests compressed again with their series in another order, because the first compression was not patchable. */
  readonly reencoded: number;
}

export interface PrepareOptions {
  readonly series: readonly Series[];
  /** Samples per request (at most one per series: capped at the series count). */
  readonly batch: number;
  /** How many requests to build; default: whole scrapes, every series at least once, and at least 16 requests. */
  readonly requests?: number;
  /** Stop building once the compressed set reaches this size (default 256 MiB). */
  readonly maxCompressedBytes?: number;
  /** Scrape interval between a series' samples (default 15 s). */
  readonly intervalMs?: number;
  /** Timestamp of the newest sample (default: now, so nothing lies in the future). */
  readonly endMs?: number;
  /**
   * Plan each request's timestamp patch (tspatch.ts) and check it on two patched cycles. Needs
   * every timestamp in [2^35, 2^42) ms (6-byte varints). Throws if a request stays unpatchable.
   */
  readonly freshTimestamps?: boolean;
}

/** The largest patch `verifyPatch` tries at preparation: an hour and a bit. */
const VERIFY_JUMP_MS = 3_600_000 + 12_345;

export interface PlainSeries {
  labels: readonly { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
}

/** Series per request and requests per scrape. */
export function scrapeGroups(seriesCount: number, batch: number): { perRequest: number; groups: number } {
  const perRequest = Math.min(batch, seriesCount);
  return { perRequest, groups: Math.ceil(seriesCount / perRequest) };
}

/** Requests needed to give every series one sample. */
export function requestsToCover(seriesCount: number, batch: number): number {
  return scrapeGroups(seriesCount, batch).groups;
}

/** Request `index`'s scrape and series range [from, to). */
export function requestLayout(index: number, batch: number, seriesCount: number): { scrape: number; from: number; to: number } {
  const { perRequest, groups } = scrapeGroups(seriesCount, batch);
  const group = index % groups;
  const from = group * perRequest;
  return { scrape: Math.floor(index / groups), from, to: Math.min(from + perRequest, seriesCount) };
}

/** `order` rotated left by `by`. */
function rotate<T>(order: readonly T[], by: number): T[] {
  const k = by % order.length;
  return [...order.slice(k), ...order.slice(0, k)];
}

export function prepareRequests(options: PrepareOptions): PreparedSet {
  const { series, batch } = options;
  const S = series.length;
  if (S === 0) throw new Error('no series to encode');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer (got ${batch})`);
  const { groups } = scrapeGroups(S, batch);
  const wanted = options.requests ?? Math.ceil(Math.max(groups, 16) / groups) * groups;
  const cap = options.maxCompressedBytes ?? 256 * 1024 * 1024;
  const interval = options.intervalMs ?? 15_000;
  const lastScrape = Math.floor((wanted - 1) / groups);
  const endMs = options.endMs ?? Date.now();
  const startMs = endMs - lastScrape * interval;
  const fresh = options.freshTimestamps ?? false;
  if (fresh && (startMs < SIX_BYTE_VARINT_MIN || endMs + 2 * VERIFY_JUMP_MS >= SIX_BYTE_VARINT_END)) {
    throw new Error(`fresh timestamps need every timestamp well inside [2^35, 2^42) ms (6-byte varints); got ${startMs}..${endMs}`);
  }

  const requests: PreparedRequest[] = [];
  let compressedBytes = 0;
  let rawBytes = 0;
  let samples = 0;
  let covered = 0;
  let reencoded = 0;
  for (let i = 0; i < wanted && compressedBytes < cap; i++) {
    const { scrape, from, to } = requestLayout(i, batch, S);
    const timestamp = startMs + scrape * interval;
    const timeseries: PlainSeries[] = [];
    for (let si = from; si < to; si++) {
      const s = series[si] as Series;
      timeseries.push({ labels: s.labels, samples: [{ value: seriesValue(s, scrape), timestamp }] });
    }
    let raw = WriteRequest.encode({ timeseries }).finish();
    let body = Buffer.from(compress(raw));
    let patch: PatchPlan | undefined;
    if (fresh) {
      // A coincidental match in the compressed stream (see tspatch.ts) depends on the bytes'
      // order: the same series in another order compress differently.
      const reasons: string[] = [];
      for (let attempt = 0; patch === undefined; attempt++) {
        if (attempt > 0) {
          if (attempt > 4) throw new Error(`request ${i} cannot be patched with fresh timestamps: ${reasons.join('; ')}`);
          reencoded++;
          raw = WriteRequest.encode({ timeseries: rotate(timeseries, Math.floor((attempt * timeseries.length) / 5)) }).finish();
          body = Buffer.from(compress(raw));
        }
        const planned = planTimestampPatch(body, raw);
        if (planned.ok) patch = planned.plan;
        else reasons.push(planned.reason);
      }
      // Two consecutive cycles, and a bigger jump that carries into the higher varint bytes.
      const cycle = (lastScrape + 1) * interval;
      verifyPatch(body, raw, patch, [cycle, 2 * cycle], timeseries);
      verifyPatch(body, raw, patch, [VERIFY_JUMP_MS]);
    }
    requests.push({ body, samples: to - from, series: to - from, rawBytes: raw.length, scrape, seriesFrom: from, seriesTo: to, patch });
    compressedBytes += body.length;
    rawBytes += raw.length;
    samples += to - from;
    covered = Math.max(covered, scrape > 0 ? S : to);
  }
  const lastK = (requests.at(-1) as PreparedRequest).scrape;
  return {
    requests,
    compressedBytes,
    rawBytes,
    samples,
    seriesCovered: covered,
    firstTimestampMs: startMs,
    lastTimestampMs: startMs + lastK * interval,
    intervalMs: interval,
    scrapes: lastK + 1,
    reencoded,
  };
}

/** A decoded protobufjs Sample (int64 comes as a Long, or a number without long.js). */
interface DecodedSample {
  value: number;
  timestamp: number | { toNumber(): number };
}

/**
 * Checks a patch plan, before anything is timed: for each delta, the patched body decompresses
 * (snappyjs) to exactly the original request with every timestamp moved by the delta; with
 * `timeseries` (what was encoded), it also decodes (protobufjs) to the same labels and values with
 * the intended timestamps. Then the body is patched back and must equal the original bytes.
 * Throws on any difference.
 */
export function verifyPatch(body: Buffer, raw: Uint8Array, plan: PatchPlan, deltas: readonly number[], timeseries?: readonly PlainSeries[]): void {
  const original = Buffer.from(body);
  const fields = findTimestampFields(raw);
  for (const delta of deltas) {
    patchTimestamps(body, plan, delta);
    const expected = Buffer.from(raw);
    for (const f of fields) {
      if (writeVarint(expected, f.offset, f.value + delta) !== f.length) throw new Error('patched timestamp changed length');
    }
    const got = Buffer.from(uncompress(body));
    if (!got.equals(expected)) throw new Error(`timestamp patch by ${delta} ms corrupted the request`);
    if (timeseries === undefined) continue;
    const decoded = WriteRequest.decode(got) as unknown as { timeseries: { labels: { name: string; value: string }[]; samples: DecodedSample[] }[] };
    if (decoded.timeseries.length !== timeseries.length) throw new Error('timestamp patch changed the series count');
    for (let s = 0; s < timeseries.length; s++) {
      const want = timeseries[s] as PlainSeries;
      const ts = decoded.timeseries[s] as (typeof decoded.timeseries)[number];
      if (ts.labels.length !== want.labels.length || ts.labels.some((l, j) => l.name !== want.labels[j]?.name || l.value !== want.labels[j]?.value)) {
        throw new Error(`timestamp patch changed the labels of series ${s}`);
      }
      if (ts.samples.length !== want.samples.length) throw new Error(`timestamp patch changed the samples of series ${s}`);
      for (let k = 0; k < want.samples.length; k++) {
        const sample = ts.samples[k] as DecodedSample;
        const old = want.samples[k] as PlainSeries['samples'][number];
        const t = typeof sample.timestamp === 'number' ? sample.timestamp : sample.timestamp.toNumber();
        if (t !== old.timestamp + delta || !Object.is(sample.value, old.value)) {
          throw new Error(`series ${s} sample ${k}: timestamp ${t}, value ${sample.value} after a patch by ${delta} ms (encoded ${old.timestamp}, ${old.value})`);
        }
      }
    }
  }
  patchTimestamps(body, plan, 0);
  if (!body.equals(original)) throw new Error('patching back to the original timestamps did not restore the body');
}
