/**
 * Splitting one queued payload (a snappy-compressed RW 1.0 WriteRequest) at series boundaries, so
 * the forwarder can isolate what a backend refuses (400, a poison 5xx) or fit under a size limit
 * (413) without losing the rest. Pure functions on the cold path: they run only when a backend
 * refused something, never per sample on the way through.
 *
 * Series are copied verbatim (WriteRequestEncoder.copySeries), so samples, exemplars, histograms,
 * NaN payloads and unknown series fields survive the split bit for bit; only unknown top-level
 * fields of the WriteRequest are left out (RW 1.0 defines none the receivers read).
 */
import { WireBatch } from '../model/batch.js';
import { renderSeries } from '../policy/label-checks.js';
import { decodeWriteRequest } from '../wire/rw1-decode.js';
import { WriteRequestEncoder } from '../wire/rw1-encode.js';
import { compressBody, declaredSnappyLength, decompressBody } from '../wire/snappy.js';

/** One half of a split payload and what it carries. */
export interface PayloadPart {
  /** Snappy-compressed WriteRequest. */
  readonly body: Buffer;
  /** Its uncompressed size in bytes. */
  readonly decodedBytes: number;
  readonly series: number;
  /** Float samples plus native histogram samples. */
  readonly samples: number;
}

/** What a payload carries (for logs and metrics when it is dropped whole). */
export interface PayloadSummary {
  readonly series: number;
  /** Float samples plus native histogram samples. */
  readonly samples: number;
  readonly metadata: number;
  /** The labels of its first series, rendered `{name="value", ...}` (cut at 200 characters); undefined without series. */
  readonly firstSeries: string | undefined;
}

/**
 * Decompress and decode a payload the forwarder itself queued. The declared length is trusted
 * (the queue holds only what ingest built and checked), so it is also the cap.
 * Throws BadPayloadError when the payload is not a valid snappy-compressed WriteRequest.
 */
function decode(payload: Buffer): WireBatch {
  const batch = new WireBatch();
  decodeWriteRequest(decompressBody(payload, Math.max(0, declaredSnappyLength(payload))), batch);
  return batch;
}

function samplesOf(batch: WireBatch, from: number, to: number): number {
  let samples = 0;
  for (let s = from; s < to; s++) samples += (batch.seriesSampleCount[s] as number) + (batch.seriesHistogramCount[s] as number);
  return samples;
}

/**
 * Split a payload into two at the middle series: the first half takes series [0, n/2) and every
 * metadata entry (sent once, with the first half), the second the rest, each in the original order.
 * Sending the halves in order delivers every series' data in the order it was queued.
 *
 * @returns undefined when the payload holds at most one series (with or without metadata): there
 *   is nothing left to separate
 * @throws BadPayloadError when the payload is not a valid snappy-compressed WriteRequest
 */
export function splitWriteRequest(payload: Buffer): [PayloadPart, PayloadPart] | undefined {
  const batch = decode(payload);
  const count = batch.seriesCount;
  if (count < 2) return undefined;
  const middle = Math.floor(count / 2);
  // One encoder per call: splits are rare, and a module-level one would keep the largest split
  // payload's buffers alive for the life of the process.
  const encoder = new WriteRequestEncoder(Math.min(batch.buf.length + 64, 256 * 1024));
  const half = (from: number, to: number, withMetadata: boolean): PayloadPart => {
    encoder.reset();
    for (let s = from; s < to; s++) encoder.copySeries(batch, s);
    if (withMetadata) for (let m = 0; m < batch.metadataCount; m++) encoder.copyMetadata(batch, m);
    const raw = encoder.finish();
    return { body: compressBody(raw), decodedBytes: raw.length, series: to - from, samples: samplesOf(batch, from, to) };
  };
  return [half(0, middle, true), half(middle, count, false)];
}

/**
 * Split a payload into two halves at a series boundary; see {@link splitWriteRequest}.
 * @returns undefined when it holds a single series or only metadata, and cannot be split
 */
export function splitPayload(payload: Buffer): [Buffer, Buffer] | undefined {
  const halves = splitWriteRequest(payload);
  return halves === undefined ? undefined : [halves[0].body, halves[1].body];
}

/** Count what a payload carries and render its first series. Throws BadPayloadError on an invalid payload. */
export function summarizePayload(payload: Buffer): PayloadSummary {
  const batch = decode(payload);
  return {
    series: batch.seriesCount,
    samples: samplesOf(batch, 0, batch.seriesCount),
    metadata: batch.metadataCount,
    firstSeries: batch.seriesCount > 0 ? renderSeries(batch, 0) : undefined,
  };
}

/**
 * A key per series of a payload, equal for two series exactly when they have the same label set
 * (labels compared by name and value, whatever their order on the wire). Throws BadPayloadError
 * on an invalid payload.
 */
export function payloadSeriesKeys(payload: Buffer): string[] {
  const batch = decode(payload);
  const keys: string[] = [];
  const buf = batch.buf;
  for (let s = 0; s < batch.seriesCount; s++) {
    const first = batch.seriesLabelFirst[s] as number;
    const end = first + (batch.seriesLabelCount[s] as number);
    const pairs: string[] = [];
    for (let l = first; l < end; l++) {
      // JSON keeps the pair unambiguous whatever bytes the name and value hold.
      pairs.push(JSON.stringify([buf.toString('utf8', batch.nameStart[l], batch.nameEnd[l]), buf.toString('utf8', batch.valueStart[l], batch.valueEnd[l])]));
    }
    keys.push(pairs.sort().join(','));
  }
  return keys;
}
