/**
 * Remote-write 1.0 encoder: builds a new `prometheus.WriteRequest` out of pieces of decoded ones
 * (WireBatch spans, copied verbatim) and new labels, into buffers reused from request to request.
 *
 * Hot path. Samples, exemplars, histograms and metadata are never re-encoded: their whole fields
 * are copied as bytes, which is both the fastest way and the only way to keep every NaN payload
 * (stale markers) and every field tributary does not know about. Only labels are written anew, and
 * only when the caller builds a series label by label.
 */
import { InternalError } from '../errors.js';
import type { WireBatch } from '../model/batch.js';
import { GrowableBuffer } from './growable-buffer.js';
import { uvarintSize } from './varint.js';

const TAG_WRITE_REQUEST_TIMESERIES = 0x0a; // 1, length-delimited
const TAG_TIMESERIES_LABELS = 0x0a; // 1, length-delimited
const TAG_LABEL_NAME = 0x0a; // 1, length-delimited
const TAG_LABEL_VALUE = 0x12; // 2, length-delimited

/**
 * Builds one WriteRequest at a time. Usage per request:
 *
 * ```ts
 * encoder.reset();
 * encoder.copySeries(batch, s);            // unchanged series: the fast path
 * encoder.beginSeries();                   // changed series: rebuilt
 * encoder.addBatchLabel(batch, l);         //   labels, in the order they must appear (sorted)
 * encoder.addLabel(nameUtf8, valueUtf8);
 * encoder.addSamples(batch, s, Infinity);  //   then samples, exemplars, histograms
 * encoder.endSeries();
 * encoder.copyMetadata(batch, m);
 * const body = encoder.finish();           // valid until the next reset()
 * ```
 *
 * The encoder keeps no reference to a batch between calls, so pieces of several batches may be
 * combined, provided each batch is still valid when its piece is added.
 */
export class WriteRequestEncoder {
  /** The WriteRequest being built. */
  private readonly out: GrowableBuffer;
  /**
   * The body of the series being built. Written apart so that its length is known before its
   * length prefix is written: the prefix is then minimal, as Go's encoder writes it.
   */
  private readonly seriesBody: GrowableBuffer;
  private inSeries = false;

  constructor(initialCapacityBytes = 256 * 1024) {
    this.out = new GrowableBuffer(initialCapacityBytes);
    this.seriesBody = new GrowableBuffer(4096);
  }

  /** Starts a new WriteRequest, keeping the buffers' capacity. Invalidates the last finish(). */
  reset(): void {
    this.out.reset();
    this.seriesBody.reset();
    this.inSeries = false;
  }

  /** Appends series `series` of `batch` exactly as it arrived (its whole `timeseries` field). */
  copySeries(batch: WireBatch, series: number): void {
    if (this.inSeries) misuse('copySeries() inside beginSeries()/endSeries()');
    this.out.pushBytes(batch.buf, batch.seriesStart[series] as number, batch.seriesEnd[series] as number);
  }

  /** Starts a series built piece by piece; endSeries() appends it. */
  beginSeries(): void {
    if (this.inSeries) misuse('beginSeries() twice without endSeries()');
    this.inSeries = true;
    this.seriesBody.reset();
  }

  /** Adds label `label` of `batch` (by its index in the batch's flat label arrays). */
  addBatchLabel(batch: WireBatch, label: number): void {
    if (!this.inSeries) misuse('addBatchLabel() outside beginSeries()/endSeries()');
    const src = batch.buf;
    this.writeLabel(
      src,
      batch.nameStart[label] as number,
      batch.nameEnd[label] as number,
      src,
      batch.valueStart[label] as number,
      batch.valueEnd[label] as number,
    );
  }

  /** Adds a label from its UTF-8 bytes (encode once and cache them: this is per series). */
  addLabel(name: Uint8Array, value: Uint8Array): void {
    if (!this.inSeries) misuse('addLabel() outside beginSeries()/endSeries()');
    this.writeLabel(name, 0, name.length, value, 0, value.length);
  }

  /**
   * Adds, verbatim, the samples of series `series` of `batch` whose timestamp is at most
   * `maxTimestampMs` (pass Infinity to keep all); returns how many were added. Runs of adjacent
   * sample fields are copied in one go.
   */
  addSamples(batch: WireBatch, series: number, maxTimestampMs: number): number {
    if (!this.inSeries) misuse('addSamples() outside beginSeries()/endSeries()');
    const first = batch.seriesSampleFirst[series] as number;
    const last = first + (batch.seriesSampleCount[series] as number);
    const starts = batch.sampleStart;
    const ends = batch.sampleEnd;
    const timestampsMs = batch.sampleTimestampMs;
    const src = batch.buf;
    let kept = 0;
    let runStart = 0;
    let runEnd = -1;
    for (let i = first; i < last; i++) {
      if ((timestampsMs[i] as number) > maxTimestampMs) continue;
      const start = starts[i] as number;
      if (start !== runEnd) {
        if (runEnd >= 0) this.seriesBody.pushBytes(src, runStart, runEnd);
        runStart = start;
      }
      runEnd = ends[i] as number;
      kept++;
    }
    if (runEnd >= 0) this.seriesBody.pushBytes(src, runStart, runEnd);
    return kept;
  }

  /** Adds, verbatim, every exemplar of series `series` of `batch`; returns how many. */
  addExemplars(batch: WireBatch, series: number): number {
    if (!this.inSeries) misuse('addExemplars() outside beginSeries()/endSeries()');
    const first = batch.seriesExemplarFirst[series] as number;
    const count = batch.seriesExemplarCount[series] as number;
    this.pushSpans(batch.buf, batch.exemplarStart, batch.exemplarEnd, first, first + count);
    return count;
  }

  /** Adds, verbatim, every native histogram of series `series` of `batch`; returns how many. */
  addHistograms(batch: WireBatch, series: number): number {
    if (!this.inSeries) misuse('addHistograms() outside beginSeries()/endSeries()');
    const first = batch.seriesHistogramFirst[series] as number;
    const count = batch.seriesHistogramCount[series] as number;
    this.pushSpans(batch.buf, batch.histogramStart, batch.histogramEnd, first, first + count);
    return count;
  }

  /** Appends the series built since beginSeries() as a `timeseries` field. */
  endSeries(): void {
    if (!this.inSeries) misuse('endSeries() without beginSeries()');
    this.inSeries = false;
    const body = this.seriesBody;
    const out = this.out;
    out.pushByte(TAG_WRITE_REQUEST_TIMESERIES);
    out.pushUvarint(body.length);
    out.pushContentOf(body);
  }

  /** Appends metadata entry `index` of `batch` exactly as it arrived. */
  copyMetadata(batch: WireBatch, index: number): void {
    if (this.inSeries) misuse('copyMetadata() inside beginSeries()/endSeries()');
    this.out.pushBytes(batch.buf, batch.metadataStart[index] as number, batch.metadataEnd[index] as number);
  }

  /**
   * The encoded WriteRequest (uncompressed). A view into the encoder's buffer, not a copy: valid
   * only until the next reset() or append; compress or copy it before building the next request.
   */
  finish(): Buffer {
    if (this.inSeries) misuse('finish() inside beginSeries()/endSeries()');
    return this.out.view();
  }

  /** Number of bytes written so far (for batching decisions without calling finish()). */
  get lengthBytes(): number {
    return this.out.length;
  }

  private writeLabel(
    nameSrc: Uint8Array,
    nameStart: number,
    nameEnd: number,
    valueSrc: Uint8Array,
    valueStart: number,
    valueEnd: number,
  ): void {
    const nameBytes = nameEnd - nameStart;
    const valueBytes = valueEnd - valueStart;
    // proto3 leaves out empty strings, as Go's encoder does; the decoded label is the same.
    const nameFieldBytes = nameBytes === 0 ? 0 : 1 + uvarintSize(nameBytes) + nameBytes;
    const valueFieldBytes = valueBytes === 0 ? 0 : 1 + uvarintSize(valueBytes) + valueBytes;
    const body = this.seriesBody;
    body.pushByte(TAG_TIMESERIES_LABELS);
    body.pushUvarint(nameFieldBytes + valueFieldBytes);
    if (nameBytes !== 0) {
      body.pushByte(TAG_LABEL_NAME);
      body.pushUvarint(nameBytes);
      body.pushBytes(nameSrc, nameStart, nameEnd);
    }
    if (valueBytes !== 0) {
      body.pushByte(TAG_LABEL_VALUE);
      body.pushUvarint(valueBytes);
      body.pushBytes(valueSrc, valueStart, valueEnd);
    }
  }

  /** Appends spans [first, last) of (starts, ends) from `src` to the series body, merging adjacent ones. */
  private pushSpans(src: Buffer, starts: Uint32Array, ends: Uint32Array, first: number, last: number): void {
    if (first === last) return;
    let runStart = starts[first] as number;
    let runEnd = ends[first] as number;
    for (let i = first + 1; i < last; i++) {
      const start = starts[i] as number;
      if (start !== runEnd) {
        this.seriesBody.pushBytes(src, runStart, runEnd);
        runStart = start;
      }
      runEnd = ends[i] as number;
    }
    this.seriesBody.pushBytes(src, runStart, runEnd);
  }
}

function misuse(what: string): never {
  throw new InternalError(`WriteRequestEncoder misused: ${what}`);
}
