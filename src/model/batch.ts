/**
 * WireBatch: a structure-of-arrays view of one decoded RW 1.0 WriteRequest.
 *
 * Decoding creates no object per series, label or sample: it records byte offsets into `buf`
 * (the decompressed protobuf body) in typed arrays that are reused from request to request.
 *
 * Ownership and lifetime: a batch belongs to one caller at a time. Everything in it, `buf`
 * included, is valid only until the next `decodeWriteRequest` into the same batch; copy what you
 * keep. Decode -> policy -> encode is synchronous, which is what makes that reuse safe.
 *
 * Offset conventions: `*Start`/`*End` of a *field* span the whole field on the wire (tag, length
 * and message), so `buf.subarray(start, end)` can be copied verbatim into another message of the
 * same type. `name*`/`value*` of a label span only the string bytes.
 */
export class WireBatch {
  /** The decompressed body all offsets point into. */
  buf: Buffer = Buffer.alloc(0);

  // ---- series (WriteRequest field 1) ----
  seriesCount = 0;
  /** Whole `timeseries` field: tag, length and message. */
  seriesStart: Uint32Array = new Uint32Array(64);
  seriesEnd: Uint32Array = new Uint32Array(64);
  /** Index of the series' first label in the label arrays; its labels are contiguous. */
  seriesLabelFirst: Uint32Array = new Uint32Array(64);
  seriesLabelCount: Uint32Array = new Uint32Array(64);
  /** Index of the series' first sample in the sample arrays; its samples are contiguous. */
  seriesSampleFirst: Uint32Array = new Uint32Array(64);
  seriesSampleCount: Uint32Array = new Uint32Array(64);
  seriesExemplarFirst: Uint32Array = new Uint32Array(64);
  seriesExemplarCount: Uint32Array = new Uint32Array(64);
  seriesHistogramFirst: Uint32Array = new Uint32Array(64);
  seriesHistogramCount: Uint32Array = new Uint32Array(64);
  /** Largest sample or histogram timestamp of the series, in ms; -Infinity when it has none. */
  seriesMaxTimestampMs: Float64Array = new Float64Array(64);

  // ---- labels (TimeSeries field 1), flat over all series ----
  labelCount = 0;
  nameStart: Uint32Array = new Uint32Array(512);
  nameEnd: Uint32Array = new Uint32Array(512);
  valueStart: Uint32Array = new Uint32Array(512);
  valueEnd: Uint32Array = new Uint32Array(512);

  // ---- samples (TimeSeries field 2), flat: whole field spans plus the decoded timestamp ----
  sampleCount = 0;
  sampleStart: Uint32Array = new Uint32Array(1024);
  sampleEnd: Uint32Array = new Uint32Array(1024);
  /** Sample timestamp in ms (int64 on the wire; exact for |t| < 2^53). */
  sampleTimestampMs: Float64Array = new Float64Array(1024);

  // ---- exemplars (TimeSeries field 3), flat: whole field spans, copied verbatim ----
  exemplarCount = 0;
  exemplarStart: Uint32Array = new Uint32Array(64);
  exemplarEnd: Uint32Array = new Uint32Array(64);

  // ---- native histograms (TimeSeries field 4), flat: whole field spans plus timestamp ----
  histogramCount = 0;
  histogramStart: Uint32Array = new Uint32Array(64);
  histogramEnd: Uint32Array = new Uint32Array(64);
  histogramTimestampMs: Float64Array = new Float64Array(64);

  // ---- metadata (WriteRequest field 3), whole field spans, copied verbatim ----
  metadataCount = 0;
  metadataStart: Uint32Array = new Uint32Array(16);
  metadataEnd: Uint32Array = new Uint32Array(16);

  /**
   * Where series `s`'s label block starts: the first label's first byte. Labels are recorded in
   * wire order, and a Label may put its value before its name, hence the min. The block
   * [labelBlockStart, labelBlockEnd) holds every name and value of the series (with their framing);
   * the series must have at least one label.
   */
  labelBlockStart(s: number): number {
    const first = this.seriesLabelFirst[s] as number;
    return Math.min(this.nameStart[first] as number, this.valueStart[first] as number);
  }

  /** Where series `s`'s label block ends: the last label's last byte (see labelBlockStart). */
  labelBlockEnd(s: number): number {
    const last = (this.seriesLabelFirst[s] as number) + (this.seriesLabelCount[s] as number) - 1;
    return Math.max(this.nameEnd[last] as number, this.valueEnd[last] as number);
  }

  /** Forget the previous request, keep the capacity. */
  reset(buf: Buffer): void {
    this.buf = buf;
    this.seriesCount = 0;
    this.labelCount = 0;
    this.sampleCount = 0;
    this.exemplarCount = 0;
    this.histogramCount = 0;
    this.metadataCount = 0;
  }
}
