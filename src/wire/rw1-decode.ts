/**
 * Remote-write 1.0 decoder: walks a decompressed `prometheus.WriteRequest` and records where each
 * series, label, sample, exemplar, histogram and metadata entry sits, in a reused WireBatch.
 *
 * Hot path. No object is created per series, label or sample: positions go into typed arrays,
 * and only sample and histogram timestamps are decoded (the pipeline orders and filters by them).
 * Everything else is validated against the schema (proto/prompb) and left as bytes, to be copied
 * verbatim by the encoder.
 *
 * Strictness follows Prometheus 2.42's own (gogo-generated) decoder, so tributary never accepts
 * what the central Prometheus would then refuse: a known field with the wrong wire type, a
 * truncated value, a length past the end of its message, field number 0 or a group (wire types 3
 * and 4) is a BadPayloadError('bad_protobuf'). Unknown fields of the other wire types are skipped
 * at every level, as protobuf requires. Label strings are not checked for UTF-8 here: that is a
 * per-series rule for the enforce stage.
 */
import { BadPayloadError } from '../errors.js';
import type { WireBatch } from '../model/batch.js';
import { readUvarint, readVarint64, skipVarint, type ReadCursor } from './varint.js';

// Wire types.
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

// Tags (field number << 3 | wire type) of the fields the hot loops look for.
const TAG_WRITE_REQUEST_TIMESERIES = 0x0a; // 1, LEN
const TAG_WRITE_REQUEST_METADATA = 0x1a; // 3, LEN
const TAG_TIMESERIES_LABELS = 0x0a; // 1, LEN
const TAG_TIMESERIES_SAMPLES = 0x12; // 2, LEN
const TAG_TIMESERIES_EXEMPLARS = 0x1a; // 3, LEN
const TAG_TIMESERIES_HISTOGRAMS = 0x22; // 4, LEN
const TAG_LABEL_NAME = 0x0a; // 1, LEN
const TAG_LABEL_VALUE = 0x12; // 2, LEN
const TAG_SAMPLE_VALUE = 0x09; // 1, FIXED64
const TAG_SAMPLE_TIMESTAMP = 0x10; // 2, VARINT

/** Largest tag a valid field number (at most 2^29 - 1) can produce. */
const MAX_TAG = 0xffffffff;

/**
 * The one read cursor of this module. Decoding is synchronous and never re-entered, so sharing it
 * is safe, and it spares returning a (position, value) pair from every read.
 */
const cur: ReadCursor = { pos: 0 };

/**
 * Decodes `buf`, a decompressed RW 1.0 WriteRequest, into `batch` (reset first; its arrays grow by
 * doubling and keep their capacity). Offsets recorded in the batch point into `buf`, which the
 * batch keeps a reference to: do not modify `buf` while the batch is in use.
 *
 * Throws BadPayloadError('bad_protobuf') on malformed input, naming the message, the field and the
 * byte offset (in the decompressed body) of the field at fault; the batch content is then
 * unspecified. Never throws anything else. Runs in time linear in `buf.length`, and the batch
 * grows only with elements actually present (each takes at least 2 bytes of input).
 */
export function decodeWriteRequest(buf: Buffer, batch: WireBatch): void {
  batch.reset(buf);
  const end = buf.length;
  if (end > 0xffffffff) fail('WriteRequest', 0, `body of ${end} bytes is too large to index`);
  let pos = 0;
  while (pos < end) {
    const fieldStart = pos;
    const tag = readTag(buf, pos, end, 'WriteRequest');
    if (tag === TAG_WRITE_REQUEST_TIMESERIES) {
      const bodyEnd = readLength(buf, end, 'WriteRequest.timeseries', fieldStart);
      decodeTimeSeries(buf, batch, fieldStart, cur.pos, bodyEnd);
      pos = bodyEnd;
    } else if (tag === TAG_WRITE_REQUEST_METADATA) {
      const bodyEnd = readLength(buf, end, 'WriteRequest.metadata', fieldStart);
      checkMessage(buf, cur.pos, bodyEnd, METRIC_METADATA);
      const index = batch.metadataCount;
      if (index === batch.metadataStart.length) growMetadata(batch);
      batch.metadataStart[index] = fieldStart;
      batch.metadataEnd[index] = bodyEnd;
      batch.metadataCount = index + 1;
      pos = bodyEnd;
    } else {
      const fieldNumber = tag >>> 3;
      if (fieldNumber === 1 || fieldNumber === 3) {
        failWireType(fieldNumber === 1 ? 'WriteRequest.timeseries' : 'WriteRequest.metadata', fieldStart, tag, WIRE_LEN);
      }
      // Includes the reserved field 2 (Cortex's request source): skipped like any unknown field.
      pos = skipField(buf, end, tag, 'WriteRequest', fieldStart);
    }
  }
}

/** Records one TimeSeries whose whole field is [fieldStart, end) and whose body is [start, end). */
function decodeTimeSeries(buf: Buffer, batch: WireBatch, fieldStart: number, start: number, end: number): void {
  const series = batch.seriesCount;
  if (series === batch.seriesStart.length) growSeries(batch);
  const labelFirst = batch.labelCount;
  const sampleFirst = batch.sampleCount;
  const exemplarFirst = batch.exemplarCount;
  const histogramFirst = batch.histogramCount;
  let maxTimestampMs = -Infinity;

  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    // Switching on the whole tag checks field number and wire type in one comparison.
    const tag = readTag(buf, pos, end, 'TimeSeries');
    switch (tag) {
      case TAG_TIMESERIES_SAMPLES: {
        const bodyEnd = readLength(buf, end, 'TimeSeries.samples', tagStart);
        const timestampMs = decodeSample(buf, cur.pos, bodyEnd);
        const index = batch.sampleCount;
        if (index === batch.sampleStart.length) growSamples(batch);
        batch.sampleStart[index] = tagStart;
        batch.sampleEnd[index] = bodyEnd;
        batch.sampleTimestampMs[index] = timestampMs;
        batch.sampleCount = index + 1;
        if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
        pos = bodyEnd;
        break;
      }
      case TAG_TIMESERIES_LABELS: {
        const bodyEnd = readLength(buf, end, 'TimeSeries.labels', tagStart);
        const bodyStart = cur.pos;
        // Fast path for the layout Go writes, `0a n <name> 12 v <value>` with one-byte lengths.
        // Reads may look past the body, but the last comparison only holds when every byte
        // read lies inside it; anything else takes the general path.
        const nameBytes = buf[bodyStart + 1] as number;
        const valueTagAt = bodyStart + 2 + nameBytes;
        const valueBytes = buf[valueTagAt + 1] as number;
        if (
          buf[bodyStart] === TAG_LABEL_NAME &&
          nameBytes < 0x80 &&
          buf[valueTagAt] === TAG_LABEL_VALUE &&
          valueBytes < 0x80 &&
          valueTagAt + 2 + valueBytes === bodyEnd
        ) {
          const index = batch.labelCount;
          if (index === batch.nameStart.length) growLabels(batch);
          batch.nameStart[index] = bodyStart + 2;
          batch.nameEnd[index] = valueTagAt;
          batch.valueStart[index] = valueTagAt + 2;
          batch.valueEnd[index] = bodyEnd;
          batch.labelCount = index + 1;
        } else {
          decodeLabel(buf, batch, bodyStart, bodyEnd);
        }
        pos = bodyEnd;
        break;
      }
      case TAG_TIMESERIES_EXEMPLARS: {
        const bodyEnd = readLength(buf, end, 'TimeSeries.exemplars', tagStart);
        checkMessage(buf, cur.pos, bodyEnd, EXEMPLAR);
        const index = batch.exemplarCount;
        if (index === batch.exemplarStart.length) growExemplars(batch);
        batch.exemplarStart[index] = tagStart;
        batch.exemplarEnd[index] = bodyEnd;
        batch.exemplarCount = index + 1;
        pos = bodyEnd;
        break;
      }
      case TAG_TIMESERIES_HISTOGRAMS: {
        const bodyEnd = readLength(buf, end, 'TimeSeries.histograms', tagStart);
        const timestampMs = checkMessage(buf, cur.pos, bodyEnd, HISTOGRAM);
        const index = batch.histogramCount;
        if (index === batch.histogramStart.length) growHistograms(batch);
        batch.histogramStart[index] = tagStart;
        batch.histogramEnd[index] = bodyEnd;
        batch.histogramTimestampMs[index] = timestampMs;
        batch.histogramCount = index + 1;
        if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
        pos = bodyEnd;
        break;
      }
      default: {
        const fieldNumber = tag >>> 3;
        if (fieldNumber >= 1 && fieldNumber <= 4) {
          failWireType(`TimeSeries.${TIMESERIES_FIELD_NAMES[fieldNumber] as string}`, tagStart, tag, WIRE_LEN);
        }
        pos = skipField(buf, end, tag, 'TimeSeries', tagStart);
      }
    }
  }

  batch.seriesStart[series] = fieldStart;
  batch.seriesEnd[series] = end;
  batch.seriesLabelFirst[series] = labelFirst;
  batch.seriesLabelCount[series] = batch.labelCount - labelFirst;
  batch.seriesSampleFirst[series] = sampleFirst;
  batch.seriesSampleCount[series] = batch.sampleCount - sampleFirst;
  batch.seriesExemplarFirst[series] = exemplarFirst;
  batch.seriesExemplarCount[series] = batch.exemplarCount - exemplarFirst;
  batch.seriesHistogramFirst[series] = histogramFirst;
  batch.seriesHistogramCount[series] = batch.histogramCount - histogramFirst;
  batch.seriesMaxTimestampMs[series] = maxTimestampMs;
  batch.seriesCount = series + 1;
}

const TIMESERIES_FIELD_NAMES = ['', 'labels', 'samples', 'exemplars', 'histograms'];

/** Records a Label body [start, end): the spans of its name and value bytes. */
function decodeLabel(buf: Buffer, batch: WireBatch, start: number, end: number): void {
  // An absent field is the empty string (proto3 default): an empty span.
  let nameStart = start;
  let nameEnd = start;
  let valueStart = start;
  let valueEnd = start;
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const tag = readTag(buf, pos, end, 'Label');
    if (tag === TAG_LABEL_NAME) {
      nameEnd = readLength(buf, end, 'Label.name', tagStart);
      nameStart = cur.pos;
      pos = nameEnd;
    } else if (tag === TAG_LABEL_VALUE) {
      valueEnd = readLength(buf, end, 'Label.value', tagStart);
      valueStart = cur.pos;
      pos = valueEnd;
    } else {
      const fieldNumber = tag >>> 3;
      if (fieldNumber === 1 || fieldNumber === 2) {
        failWireType(fieldNumber === 1 ? 'Label.name' : 'Label.value', tagStart, tag, WIRE_LEN);
      }
      pos = skipField(buf, end, tag, 'Label', tagStart);
    }
  }
  const index = batch.labelCount;
  if (index === batch.nameStart.length) growLabels(batch);
  batch.nameStart[index] = nameStart;
  batch.nameEnd[index] = nameEnd;
  batch.valueStart[index] = valueStart;
  batch.valueEnd[index] = valueEnd;
  batch.labelCount = index + 1;
}

/** Validates a Sample body [start, end) and returns its timestamp (0 when absent, as proto3 says). */
function decodeSample(buf: Buffer, start: number, end: number): number {
  // Fast paths for the layouts Go writes: `09 <8 bytes> 10 <varint>`, and `10 <varint>` alone
  // (Go leaves out a zero value). The varint must end the body exactly; otherwise, or when the
  // varint is malformed, the general path below decides (and names the error).
  let timestampAt = -1;
  if (buf[start] === TAG_SAMPLE_VALUE && buf[start + 9] === TAG_SAMPLE_TIMESTAMP) timestampAt = start + 10;
  else if (buf[start] === TAG_SAMPLE_TIMESTAMP) timestampAt = start + 1;
  if (timestampAt >= 0 && timestampAt < end) {
    cur.pos = timestampAt;
    const fastTimestampMs = readVarint64(buf, cur, end);
    // A malformed varint leaves cur.pos at timestampAt, short of the end.
    if (cur.pos === end) return fastTimestampMs;
  }

  let timestampMs = 0;
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const tag = readTag(buf, pos, end, 'Sample');
    if (tag === TAG_SAMPLE_VALUE) {
      // The value is never decoded: it is copied as bytes, so every NaN payload (the stale
      // marker 0x7ff0000000000002 above all) survives.
      if (end - cur.pos < 8) fail('Sample.value', tagStart, 'truncated 64-bit value');
      pos = cur.pos + 8;
    } else if (tag === TAG_SAMPLE_TIMESTAMP) {
      timestampMs = readVarint64(buf, cur, end);
      if (Number.isNaN(timestampMs)) fail('Sample.timestamp', tagStart, 'truncated or overlong varint');
      pos = cur.pos;
    } else {
      const fieldNumber = tag >>> 3;
      if (fieldNumber === 1) failWireType('Sample.value', tagStart, tag, WIRE_FIXED64);
      if (fieldNumber === 2) failWireType('Sample.timestamp', tagStart, tag, WIRE_VARINT);
      pos = skipField(buf, end, tag, 'Sample', tagStart);
    }
  }
  return timestampMs;
}

// ---- the cold messages: validated against a table, kept as bytes ----

/** How a known field must look on the wire. */
const KIND_VARINT = 0;
const KIND_FIXED64 = 1;
/** string or bytes: any content. */
const KIND_BYTES = 2;
/** A nested message, validated in turn. */
const KIND_MESSAGE = 3;
/** repeated varint scalar: unpacked (one varint per field) or packed (a run of varints). */
const KIND_REPEATED_VARINT = 4;
/** repeated double: unpacked (8 bytes per field) or packed (a multiple of 8 bytes). */
const KIND_REPEATED_FIXED64 = 5;

interface FieldRule {
  readonly name: string;
  readonly kind: number;
  readonly nested?: MessageShape;
}

interface MessageShape {
  readonly name: string;
  /** Indexed by field number; holes are fields this schema does not know. */
  readonly fields: readonly (FieldRule | undefined)[];
  /** The int64 field whose (last) value checkMessage returns, or 0 for none. */
  readonly timestampField: number;
}

const LABEL: MessageShape = {
  name: 'Label',
  fields: [undefined, { name: 'name', kind: KIND_BYTES }, { name: 'value', kind: KIND_BYTES }],
  timestampField: 0,
};

const EXEMPLAR: MessageShape = {
  name: 'Exemplar',
  fields: [
    undefined,
    { name: 'labels', kind: KIND_MESSAGE, nested: LABEL },
    { name: 'value', kind: KIND_FIXED64 },
    { name: 'timestamp', kind: KIND_VARINT },
  ],
  timestampField: 0,
};

const BUCKET_SPAN: MessageShape = {
  name: 'BucketSpan',
  fields: [undefined, { name: 'offset', kind: KIND_VARINT }, { name: 'length', kind: KIND_VARINT }],
  timestampField: 0,
};

const HISTOGRAM: MessageShape = {
  name: 'Histogram',
  fields: [
    undefined,
    { name: 'count_int', kind: KIND_VARINT },
    { name: 'count_float', kind: KIND_FIXED64 },
    { name: 'sum', kind: KIND_FIXED64 },
    { name: 'schema', kind: KIND_VARINT },
    { name: 'zero_threshold', kind: KIND_FIXED64 },
    { name: 'zero_count_int', kind: KIND_VARINT },
    { name: 'zero_count_float', kind: KIND_FIXED64 },
    { name: 'negative_spans', kind: KIND_MESSAGE, nested: BUCKET_SPAN },
    { name: 'negative_deltas', kind: KIND_REPEATED_VARINT },
    { name: 'negative_counts', kind: KIND_REPEATED_FIXED64 },
    { name: 'positive_spans', kind: KIND_MESSAGE, nested: BUCKET_SPAN },
    { name: 'positive_deltas', kind: KIND_REPEATED_VARINT },
    { name: 'positive_counts', kind: KIND_REPEATED_FIXED64 },
    { name: 'reset_hint', kind: KIND_VARINT },
    { name: 'timestamp', kind: KIND_VARINT },
    { name: 'custom_values', kind: KIND_REPEATED_FIXED64 },
  ],
  timestampField: 15,
};

const METRIC_METADATA: MessageShape = {
  name: 'MetricMetadata',
  fields: [
    undefined,
    { name: 'type', kind: KIND_VARINT },
    { name: 'metric_family_name', kind: KIND_BYTES },
    undefined, // 3 has never been used
    { name: 'help', kind: KIND_BYTES },
    { name: 'unit', kind: KIND_BYTES },
  ],
  timestampField: 0,
};

/**
 * Validates the message body [start, end) against `shape` (recursing into nested messages) and
 * returns the last value of its `timestampField`, 0 when absent.
 */
function checkMessage(buf: Buffer, start: number, end: number, shape: MessageShape): number {
  let timestampMs = 0;
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const tag = readTag(buf, pos, end, shape.name);
    const fieldNumber = tag >>> 3;
    const wireType = tag & 7;
    const rule = shape.fields[fieldNumber];
    if (rule === undefined) {
      pos = skipField(buf, end, tag, shape.name, tagStart);
      continue;
    }
    switch (rule.kind) {
      case KIND_VARINT:
        if (wireType !== WIRE_VARINT) failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_VARINT);
        if (fieldNumber === shape.timestampField) {
          timestampMs = readVarint64(buf, cur, end);
          if (Number.isNaN(timestampMs)) fail(`${shape.name}.${rule.name}`, tagStart, 'truncated or overlong varint');
          pos = cur.pos;
        } else {
          pos = skipVarint(buf, cur.pos, end);
          if (pos < 0) fail(`${shape.name}.${rule.name}`, tagStart, 'truncated or overlong varint');
        }
        break;
      case KIND_FIXED64:
        if (wireType !== WIRE_FIXED64) failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_FIXED64);
        if (end - cur.pos < 8) fail(`${shape.name}.${rule.name}`, tagStart, 'truncated 64-bit value');
        pos = cur.pos + 8;
        break;
      case KIND_BYTES:
        if (wireType !== WIRE_LEN) failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_LEN);
        pos = readLength(buf, end, `${shape.name}.${rule.name}`, tagStart);
        break;
      case KIND_MESSAGE: {
        if (wireType !== WIRE_LEN) failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_LEN);
        const bodyEnd = readLength(buf, end, `${shape.name}.${rule.name}`, tagStart);
        checkMessage(buf, cur.pos, bodyEnd, rule.nested as MessageShape);
        pos = bodyEnd;
        break;
      }
      case KIND_REPEATED_VARINT:
        if (wireType === WIRE_VARINT) {
          pos = skipVarint(buf, cur.pos, end);
          if (pos < 0) fail(`${shape.name}.${rule.name}`, tagStart, 'truncated or overlong varint');
        } else if (wireType === WIRE_LEN) {
          const bodyEnd = readLength(buf, end, `${shape.name}.${rule.name}`, tagStart);
          for (let at = cur.pos; at < bodyEnd; ) {
            at = skipVarint(buf, at, bodyEnd);
            if (at < 0) fail(`${shape.name}.${rule.name}`, tagStart, 'packed varints end in a truncated varint');
          }
          pos = bodyEnd;
        } else {
          failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_VARINT);
        }
        break;
      case KIND_REPEATED_FIXED64:
        if (wireType === WIRE_FIXED64) {
          if (end - cur.pos < 8) fail(`${shape.name}.${rule.name}`, tagStart, 'truncated 64-bit value');
          pos = cur.pos + 8;
        } else if (wireType === WIRE_LEN) {
          const bodyEnd = readLength(buf, end, `${shape.name}.${rule.name}`, tagStart);
          const packedBytes = bodyEnd - cur.pos;
          if (packedBytes % 8 !== 0) {
            fail(`${shape.name}.${rule.name}`, tagStart, `packed doubles take ${packedBytes} bytes, not a multiple of 8`);
          }
          pos = bodyEnd;
        } else {
          failWireType(`${shape.name}.${rule.name}`, tagStart, tag, WIRE_FIXED64);
        }
        break;
    }
  }
  return timestampMs;
}

// ---- wire primitives with error reporting ----

/**
 * Reads the tag at `pos` (< end) of a field of `message`, leaves `cur.pos` after it and returns it.
 * Rejects field number 0 and field numbers over 2^29 - 1.
 */
function readTag(buf: Buffer, pos: number, end: number, message: string): number {
  const first = buf[pos] as number;
  // Fields 1..15 have one-byte tags: the common case by far.
  if (first < 0x80 && first >= 0x08) {
    cur.pos = pos + 1;
    return first;
  }
  cur.pos = pos;
  const tag = readUvarint(buf, cur, end);
  if (tag < 0) fail(message, pos, 'truncated or overlong field tag');
  if (tag < 0x08) fail(message, pos, 'invalid field number 0');
  if (tag > MAX_TAG) fail(message, pos, `field number ${Math.floor(tag / 8)} is over the maximum of 536870911`);
  return tag;
}

/**
 * Reads the length prefix at `cur.pos` of a length-delimited field (tag at `fieldStart`) inside a
 * message ending at `end`; checks that the body fits, leaves `cur.pos` at the body's start and
 * returns the body's end.
 */
function readLength(buf: Buffer, end: number, where: string, fieldStart: number): number {
  const at = cur.pos;
  const first = buf[at] as number;
  let length: number;
  // Bodies under 128 bytes (labels, samples) have a one-byte length.
  if (at < end && first < 0x80) {
    length = first;
    cur.pos = at + 1;
  } else {
    length = readUvarint(buf, cur, end);
    if (length < 0) fail(where, fieldStart, 'truncated or overlong length');
  }
  const left = end - cur.pos;
  if (length > left) {
    fail(where, fieldStart, `length ${length} runs past the end of the message (${left} bytes left)`);
  }
  return cur.pos + length;
}

/**
 * Skips the value of an unknown field whose tag (at `fieldStart`) was just read; returns the
 * position after it.
 */
function skipField(buf: Buffer, end: number, tag: number, message: string, fieldStart: number): number {
  const wireType = tag & 7;
  const at = cur.pos;
  switch (wireType) {
    case WIRE_VARINT: {
      const next = skipVarint(buf, at, end);
      if (next < 0) fail(unknownField(message, tag), fieldStart, 'truncated or overlong varint');
      return next;
    }
    case WIRE_FIXED64:
      if (end - at < 8) fail(unknownField(message, tag), fieldStart, 'truncated 64-bit value');
      return at + 8;
    case WIRE_LEN:
      return readLength(buf, end, unknownField(message, tag), fieldStart);
    case WIRE_FIXED32:
      if (end - at < 4) fail(unknownField(message, tag), fieldStart, 'truncated 32-bit value');
      return at + 4;
    case WIRE_START_GROUP:
    case WIRE_END_GROUP:
      return fail(unknownField(message, tag), fieldStart, `group wire type ${wireType} is not supported`);
    default:
      return fail(unknownField(message, tag), fieldStart, `invalid wire type ${wireType}`);
  }
}

function unknownField(message: string, tag: number): string {
  return `${message} field ${Math.floor(tag / 8)}`;
}

const WIRE_TYPE_NAMES = ['varint', '64-bit', 'length-delimited', 'start group', 'end group', '32-bit', 'invalid 6', 'invalid 7'];

function failWireType(where: string, fieldStart: number, tag: number, expected: number): never {
  const got = tag & 7;
  return fail(where, fieldStart, `wire type ${got} (${WIRE_TYPE_NAMES[got] as string}) where ${expected} (${WIRE_TYPE_NAMES[expected] as string}) is expected`);
}

function fail(where: string, offset: number, problem: string): never {
  throw new BadPayloadError('bad_protobuf', `bad protobuf: ${where} at byte ${offset}: ${problem}`);
}

// ---- batch growth: double the arrays of one group, keeping their content ----

function grownU32(old: Uint32Array): Uint32Array<ArrayBuffer> {
  const grown = new Uint32Array(Math.max(16, old.length * 2));
  grown.set(old);
  return grown;
}

function grownF64(old: Float64Array): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(Math.max(16, old.length * 2));
  grown.set(old);
  return grown;
}

function growSeries(batch: WireBatch): void {
  batch.seriesStart = grownU32(batch.seriesStart);
  batch.seriesEnd = grownU32(batch.seriesEnd);
  batch.seriesLabelFirst = grownU32(batch.seriesLabelFirst);
  batch.seriesLabelCount = grownU32(batch.seriesLabelCount);
  batch.seriesSampleFirst = grownU32(batch.seriesSampleFirst);
  batch.seriesSampleCount = grownU32(batch.seriesSampleCount);
  batch.seriesExemplarFirst = grownU32(batch.seriesExemplarFirst);
  batch.seriesExemplarCount = grownU32(batch.seriesExemplarCount);
  batch.seriesHistogramFirst = grownU32(batch.seriesHistogramFirst);
  batch.seriesHistogramCount = grownU32(batch.seriesHistogramCount);
  batch.seriesMaxTimestampMs = grownF64(batch.seriesMaxTimestampMs);
}

function growLabels(batch: WireBatch): void {
  batch.nameStart = grownU32(batch.nameStart);
  batch.nameEnd = grownU32(batch.nameEnd);
  batch.valueStart = grownU32(batch.valueStart);
  batch.valueEnd = grownU32(batch.valueEnd);
}

function growSamples(batch: WireBatch): void {
  batch.sampleStart = grownU32(batch.sampleStart);
  batch.sampleEnd = grownU32(batch.sampleEnd);
  batch.sampleTimestampMs = grownF64(batch.sampleTimestampMs);
}

function growExemplars(batch: WireBatch): void {
  batch.exemplarStart = grownU32(batch.exemplarStart);
  batch.exemplarEnd = grownU32(batch.exemplarEnd);
}

function growHistograms(batch: WireBatch): void {
  batch.histogramStart = grownU32(batch.histogramStart);
  batch.histogramEnd = grownU32(batch.histogramEnd);
  batch.histogramTimestampMs = grownF64(batch.histogramTimestampMs);
}

function growMetadata(batch: WireBatch): void {
  batch.metadataStart = grownU32(batch.metadataStart);
  batch.metadataEnd = grownU32(batch.metadataEnd);
}
