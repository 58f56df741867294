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
import { copyBytes, GrowableBuffer } from './growable-buffer.js';
import { uvarintSize, writeUvarint } from './varint.js';

const TAG_WRITE_REQUEST_TIMESERIES = 0x0a; // 1, length-delimited
const TAG_TIMESERIES_LABELS = 0x0a; // 1, length-delimited
const TAG_LABEL_NAME = 0x0a; // 1, length-delimited
const TAG_LABEL_VALUE = 0x12; // 2, length-delimited

/**
 * A GrowableBuffer with one pending verbatim run: spans appended with appendSpan() that are
 * adjacent in the same source (consecutive series of a request, the labels and samples of a
 * series) are merged and copied in one go, as late as possible. A native copy costs about as
 * much as copying 40 bytes in a loop, so merging is what makes verbatim copies cheap.
 */
class SpanWriter {
  readonly buffer: GrowableBuffer;
  /** The pending run: bytes [runStart, runEnd) of runSource, not yet in `buffer`. */
  runSource: Uint8Array | undefined = undefined;
  runStart = 0;
  runEnd = 0;

  constructor(initialCapacityBytes: number) {
    this.buffer = new GrowableBuffer(initialCapacityBytes);
  }

  reset(): void {
    this.buffer.reset();
    this.runSource = undefined;
  }

  /** Content length in bytes, the pending run included. */
  get length(): number {
    return this.buffer.length + (this.runSource === undefined ? 0 : this.runEnd - this.runStart);
  }

  appendSpan(source: Uint8Array, start: number, end: number): void {
    if (source === this.runSource && start === this.runEnd) {
      this.runEnd = end;
      return;
    }
    this.flush();
    this.runSource = source;
    this.runStart = start;
    this.runEnd = end;
  }

  /** Writes the pending run into `buffer`; call before writing to `buffer` directly. */
  flush(): void {
    const source = this.runSource;
    if (source === undefined) return;
    this.buffer.pushBytes(source, this.runStart, this.runEnd);
    this.runSource = undefined;
  }
}

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
 *                                          //   (or addIncreasingSamples/-Histograms to filter)
 * encoder.endSeries();
 * encoder.copyMetadata(batch, m);
 * const body = encoder.finish();           // valid until the next reset()
 * ```
 *
 * Pieces of several batches may be combined. Source bytes must stay unchanged until finish():
 * verbatim copies of adjacent fields (consecutive series of an unchanged request) are merged and
 * written in one go, as late as possible.
 */
export class WriteRequestEncoder {
  /** The WriteRequest being built. */
  private readonly out: SpanWriter;
  /**
   * The body of the series being built. Written apart so that its length is known before its
   * length prefix is written: the prefix is then minimal, as Go's encoder writes it.
   */
  private readonly seriesBody: SpanWriter;
  private inSeries = false;

  constructor(initialCapacityBytes = 256 * 1024) {
    this.out = new SpanWriter(initialCapacityBytes);
    this.seriesBody = new SpanWriter(4096);
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
    this.out.appendSpan(batch.buf, batch.seriesStart[series] as number, batch.seriesEnd[series] as number);
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
    const nameStart = batch.nameStart[label] as number;
    const nameEnd = batch.nameEnd[label] as number;
    const valueStart = batch.valueStart[label] as number;
    const valueEnd = batch.valueEnd[label] as number;
    const fieldStart = canonicalLabelFieldStart(src, nameStart, nameEnd, valueStart, valueEnd);
    if (fieldStart >= 0) {
      // The source already holds exactly the bytes writeLabel would write: copy them, merged
      // with the neighbouring labels and samples.
      this.seriesBody.appendSpan(src, fieldStart, valueEnd);
    } else {
      this.writeLabel(src, nameStart, nameEnd, src, valueStart, valueEnd);
    }
  }

  /** Adds a label from its UTF-8 bytes (encode once and cache them: this is per series). */
  addLabel(name: Uint8Array, value: Uint8Array): void {
    if (!this.inSeries) misuse('addLabel() outside beginSeries()/endSeries()');
    this.writeLabel(name, 0, name.length, value, 0, value.length);
  }

  /** Adds label fields encoded by encodeLabelFields (bytes [start, end) of them). */
  addEncodedLabels(encoded: Buffer, start: number, end: number): void {
    if (!this.inSeries) misuse('addEncodedLabels() outside beginSeries()/endSeries()');
    if (end > start) this.seriesBody.appendSpan(encoded, start, end);
  }

  /**
   * Adds, verbatim, the samples of series `series` of `batch` whose timestamp is at most
   * `maxTimestampMs` (pass Infinity to keep all) and at least `minTimestampMs`; returns how many
   * were added.
   */
  addSamples(batch: WireBatch, series: number, maxTimestampMs: number, minTimestampMs = Number.NEGATIVE_INFINITY): number {
    if (!this.inSeries) misuse('addSamples() outside beginSeries()/endSeries()');
    const first = batch.seriesSampleFirst[series] as number;
    const last = first + (batch.seriesSampleCount[series] as number);
    const starts = batch.sampleStart;
    const ends = batch.sampleEnd;
    const timestampsMs = batch.sampleTimestampMs;
    const src = batch.buf;
    const body = this.seriesBody;
    let kept = 0;
    for (let i = first; i < last; i++) {
      const t = timestampsMs[i] as number;
      if (t > maxTimestampMs || t < minTimestampMs) continue;
      body.appendSpan(src, starts[i] as number, ends[i] as number);
      kept++;
    }
    return kept;
  }

  /**
   * Adds, verbatim and in wire order, the samples of series `series` of `batch` that are at most
   * `maxTimestampMs`, at least `minTimestampMs`, and newer than `afterMs` and than every sample
   * added before them from this call: what is added is strictly increasing in time, whatever order
   * the samples arrived in (a sample not newer than the one before it is left out). Returns the timestamp of the last sample added,
   * or `afterMs` when none was. With `afterMs` = -Infinity and ascending input this adds what
   * addSamples(batch, series, maxTimestampMs) adds.
   */
  addIncreasingSamples(batch: WireBatch, series: number, afterMs: number, maxTimestampMs: number, minTimestampMs = Number.NEGATIVE_INFINITY): number {
    if (!this.inSeries) misuse('addIncreasingSamples() outside beginSeries()/endSeries()');
    const first = batch.seriesSampleFirst[series] as number;
    const last = first + (batch.seriesSampleCount[series] as number);
    const timestampsMs = batch.sampleTimestampMs;
    const src = batch.buf;
    const body = this.seriesBody;
    let mark = afterMs;
    for (let i = first; i < last; i++) {
      const t = timestampsMs[i] as number;
      if (t <= mark || t > maxTimestampMs || t < minTimestampMs) continue;
      body.appendSpan(src, batch.sampleStart[i] as number, batch.sampleEnd[i] as number);
      mark = t;
    }
    return mark;
  }

  /**
   * addIncreasingSamples for native histograms: adds, verbatim and in wire order, each histogram of
   * series `series` newer than `afterMs` and than every histogram added before it; returns the
   * timestamp of the last one added, or `afterMs`.
   */
  addIncreasingHistograms(batch: WireBatch, series: number, afterMs: number): number {
    if (!this.inSeries) misuse('addIncreasingHistograms() outside beginSeries()/endSeries()');
    const first = batch.seriesHistogramFirst[series] as number;
    const last = first + (batch.seriesHistogramCount[series] as number);
    const timestampsMs = batch.histogramTimestampMs;
    let mark = afterMs;
    for (let i = first; i < last; i++) {
      const t = timestampsMs[i] as number;
      if (t <= mark) continue;
      this.seriesBody.appendSpan(batch.buf, batch.histogramStart[i] as number, batch.histogramEnd[i] as number);
      mark = t;
    }
    return mark;
  }

  /** Adds, verbatim, every exemplar of series `series` of `batch`; returns how many. */
  addExemplars(batch: WireBatch, series: number): number {
    if (!this.inSeries) misuse('addExemplars() outside beginSeries()/endSeries()');
    const first = batch.seriesExemplarFirst[series] as number;
    const count = batch.seriesExemplarCount[series] as number;
    for (let i = first; i < first + count; i++) {
      this.seriesBody.appendSpan(batch.buf, batch.exemplarStart[i] as number, batch.exemplarEnd[i] as number);
    }
    return count;
  }

  /** Adds, verbatim, every native histogram of series `series` of `batch`; returns how many. */
  addHistograms(batch: WireBatch, series: number): number {
    if (!this.inSeries) misuse('addHistograms() outside beginSeries()/endSeries()');
    const first = batch.seriesHistogramFirst[series] as number;
    const count = batch.seriesHistogramCount[series] as number;
    for (let i = first; i < first + count; i++) {
      this.seriesBody.appendSpan(batch.buf, batch.histogramStart[i] as number, batch.histogramEnd[i] as number);
    }
    return count;
  }

  /** Appends the series built since beginSeries() as a `timeseries` field. */
  endSeries(): void {
    if (!this.inSeries) misuse('endSeries() without beginSeries()');
    this.inSeries = false;
    const body = this.seriesBody;
    const bodyBytes = body.length;
    const out = this.out;
    out.flush();
    out.buffer.ensureSpare(1 + uvarintSize(bodyBytes));
    const target = out.buffer.bytes;
    let at = out.buffer.length;
    target[at++] = TAG_WRITE_REQUEST_TIMESERIES;
    out.buffer.length = writeUvarint(target, at, bodyBytes);
    const runSource = body.runSource;
    if (body.buffer.length === 0 && runSource !== undefined) {
      // The body is one verbatim run (a series rebuilt unchanged, or with only samples dropped
      // at its end): hand the run to `out` without going through the body buffer.
      out.appendSpan(runSource, body.runStart, body.runEnd);
    } else {
      body.flush();
      out.buffer.pushBytes(body.buffer.bytes, 0, body.buffer.length);
    }
  }

  /** Appends metadata entry `index` of `batch` exactly as it arrived. */
  copyMetadata(batch: WireBatch, index: number): void {
    if (this.inSeries) misuse('copyMetadata() inside beginSeries()/endSeries()');
    this.out.appendSpan(batch.buf, batch.metadataStart[index] as number, batch.metadataEnd[index] as number);
  }

  /**
   * The encoded WriteRequest (uncompressed). A view into the encoder's buffer, not a copy: valid
   * only until the next reset() or append; compress or copy it before building the next request.
   */
  finish(): Buffer {
    if (this.inSeries) misuse('finish() inside beginSeries()/endSeries()');
    this.out.flush();
    return this.out.buffer.view();
  }

  /** Size of the request built so far, in bytes (for batching decisions without finish()). */
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
    const labelBytes = nameFieldBytes + valueFieldBytes;
    const body = this.seriesBody;
    body.flush();
    const buffer = body.buffer;
    // One capacity check for the whole field, then plain stores.
    buffer.ensureSpare(1 + uvarintSize(labelBytes) + labelBytes);
    const target = buffer.bytes;
    let at = buffer.length;
    target[at++] = TAG_TIMESERIES_LABELS;
    at = writeUvarint(target, at, labelBytes);
    if (nameBytes !== 0) {
      target[at++] = TAG_LABEL_NAME;
      at = writeUvarint(target, at, nameBytes);
      at = copyBytes(target, at, nameSrc, nameStart, nameEnd);
    }
    if (valueBytes !== 0) {
      target[at++] = TAG_LABEL_VALUE;
      at = writeUvarint(target, at, valueBytes);
      at = copyBytes(target, at, valueSrc, valueStart, valueEnd);
    }
    buffer.length = at;
  }
}

/**
 * Where the label with these name and value spans starts as a whole field, when `src` holds it in
 * exactly the form writeLabel writes (`0a L 0a n <name> 12 v <value>`, one-byte lengths, both
 * strings non-empty); -1 otherwise. The bytes are checked, not assumed, so copying them is always
 * equivalent to re-encoding.
 */
function canonicalLabelFieldStart(src: Uint8Array, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): number {
  const nameBytes = nameEnd - nameStart;
  const valueBytes = valueEnd - valueStart;
  const labelBytes = 4 + nameBytes + valueBytes;
  const fieldStart = nameStart - 4;
  if (
    nameBytes > 0 &&
    valueBytes > 0 &&
    labelBytes < 0x80 &&
    fieldStart >= 0 &&
    valueStart === nameEnd + 2 &&
    src[fieldStart] === TAG_TIMESERIES_LABELS &&
    src[fieldStart + 1] === labelBytes &&
    src[fieldStart + 2] === TAG_LABEL_NAME &&
    src[fieldStart + 3] === nameBytes &&
    src[nameEnd] === TAG_LABEL_VALUE &&
    src[nameEnd + 1] === valueBytes
  ) {
    return fieldStart;
  }
  return -1;
}

function misuse(what: string): never {
  throw new InternalError(`WriteRequestEncoder misused: ${what}`);
}

/**
 * The `labels` fields of a TimeSeries, in the form addLabel writes, for a caller that keeps a
 * series' labels encoded (the relabel cache). `starts[i]` is where label i's field begins;
 * `starts[n]` is the total length.
 */
export function encodeLabelFields(names: readonly Uint8Array[], values: readonly Uint8Array[]): { bytes: Buffer; starts: Uint32Array } {
  const starts = new Uint32Array(names.length + 1);
  let total = 0;
  const inner = names.map((name, i) => {
    const value = values[i] as Uint8Array;
    const size = (name.length === 0 ? 0 : 1 + uvarintSize(name.length) + name.length) + (value.length === 0 ? 0 : 1 + uvarintSize(value.length) + value.length);
    starts[i] = total;
    total += 1 + uvarintSize(size) + size;
    return size;
  });
  starts[names.length] = total;
  const bytes = Buffer.allocUnsafe(total);
  let at = 0;
  names.forEach((name, i) => {
    const value = values[i] as Uint8Array;
    bytes[at++] = TAG_TIMESERIES_LABELS;
    at = writeUvarint(bytes, at, inner[i] as number);
    // proto3 leaves out empty strings, as writeLabel does.
    if (name.length > 0) {
      bytes[at++] = TAG_LABEL_NAME;
      at = writeUvarint(bytes, at, name.length);
      bytes.set(name, at);
      at += name.length;
    }
    if (value.length > 0) {
      bytes[at++] = TAG_LABEL_VALUE;
      at = writeUvarint(bytes, at, value.length);
      bytes.set(value, at);
      at += value.length;
    }
  });
  return { bytes, starts };
}
