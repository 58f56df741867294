/**
 * The reference RW 1.0 codec for tests: protobufjs driven by the schema in proto/prompb, so the
 * hand-written codec in src/wire is checked against an independent implementation of the same
 * .proto files.
 *
 * Plain objects use the .proto field names (keepCase). int64/uint64 fields come out as decimal
 * strings (`longs: String`), so timestamps compare exactly; encode accepts numbers or strings.
 * Doubles are JS numbers: compare them with {@link doubleBits}, never with ===.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

export interface RefLabel {
  name: string;
  value: string;
}

export interface RefSample {
  value: number;
  timestamp: string;
}

export interface RefExemplar {
  labels: RefLabel[];
  value: number;
  timestamp: string;
}

export interface RefBucketSpan {
  offset: number;
  length: number;
}

export interface RefHistogram {
  count_int?: string;
  count_float?: number;
  sum: number;
  schema: number;
  zero_threshold: number;
  zero_count_int?: string;
  zero_count_float?: number;
  negative_spans: RefBucketSpan[];
  negative_deltas: string[];
  negative_counts: number[];
  positive_spans: RefBucketSpan[];
  positive_deltas: string[];
  positive_counts: number[];
  reset_hint: number;
  timestamp: string;
  custom_values: number[];
}

export interface RefTimeSeries {
  labels: RefLabel[];
  samples: RefSample[];
  exemplars: RefExemplar[];
  histograms: RefHistogram[];
}

export interface RefMetricMetadata {
  type: number;
  metric_family_name: string;
  help: string;
  unit: string;
}

export interface RefWriteRequest {
  timeseries: RefTimeSeries[];
  metadata: RefMetricMetadata[];
}

/** What encode accepts: like the decoded shape, with every field optional and int64 as number or string. */
export type Int64Input = number | string;
export interface RefHistogramInput {
  count_int?: Int64Input;
  count_float?: number;
  sum?: number;
  schema?: number;
  zero_threshold?: number;
  zero_count_int?: Int64Input;
  zero_count_float?: number;
  negative_spans?: Partial<RefBucketSpan>[];
  negative_deltas?: Int64Input[];
  negative_counts?: number[];
  positive_spans?: Partial<RefBucketSpan>[];
  positive_deltas?: Int64Input[];
  positive_counts?: number[];
  reset_hint?: number;
  timestamp?: Int64Input;
  custom_values?: number[];
}
export interface RefTimeSeriesInput {
  labels?: Partial<RefLabel>[];
  samples?: { value?: number; timestamp?: Int64Input }[];
  exemplars?: { labels?: Partial<RefLabel>[]; value?: number; timestamp?: Int64Input }[];
  histograms?: RefHistogramInput[];
}
export interface RefWriteRequestInput {
  timeseries?: RefTimeSeriesInput[];
  metadata?: Partial<RefMetricMetadata>[];
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  arrays: true,
  defaults: true,
};

/** A WriteRequest codec bound to one variant of the schema. */
export class ReferenceCodec {
  private readonly type: protobuf.Type;

  constructor(root: protobuf.Root) {
    this.type = root.lookupType('prometheus.WriteRequest');
  }

  /** Decodes a WriteRequest (throws protobufjs's own errors on malformed input). */
  decode(bytes: Uint8Array): RefWriteRequest {
    return this.type.toObject(this.type.decode(bytes), TO_OBJECT) as unknown as RefWriteRequest;
  }

  /** Encodes a WriteRequest the way protobufjs does (packed repeated scalars unless told otherwise). */
  encode(request: RefWriteRequestInput): Buffer {
    const bytes = this.type.encode(this.type.fromObject(request as { [key: string]: unknown })).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

function loadSchema(): protobuf.Root {
  const root = new protobuf.Root();
  // Imports are written relative to proto/ (protoc -I proto), as Prometheus writes them.
  root.resolvePath = (_origin, target) => path.resolve(PROTO_DIR, target);
  return root.loadSync('prompb/remote.proto', { keepCase: true });
}

/**
 * The same schema with `[packed = false]` on every repeated scalar, to produce the unpacked form
 * that proto3 decoders must accept too.
 */
function loadUnpackedSchema(): protobuf.Root {
  const root = new protobuf.Root();
  const types = readFileSync(path.join(PROTO_DIR, 'prompb/types.proto'), 'utf8').replace(
    /(repeated (?:sint64|double) \w+ = \d+);/g,
    '$1 [packed = false];',
  );
  const remote = readFileSync(path.join(PROTO_DIR, 'prompb/remote.proto'), 'utf8');
  protobuf.parse(types, root, { keepCase: true });
  protobuf.parse(remote, root, { keepCase: true });
  root.resolveAll();
  return root;
}

/** protobufjs on proto/prompb as written: repeated scalars packed. */
export const reference = new ReferenceCodec(loadSchema());

/** protobufjs on proto/prompb with every repeated scalar unpacked. */
export const referenceUnpacked = new ReferenceCodec(loadUnpackedSchema());

const bitsView = new DataView(new ArrayBuffer(8));

/** The 64 bits of a double as 16 hex digits (NaN payloads included). */
export function doubleBits(value: number): string {
  bitsView.setFloat64(0, value, true);
  return bitsView.getBigUint64(0, true).toString(16).padStart(16, '0');
}

/** A double from its 64 bits (e.g. 0x7ff0000000000002n, the stale marker). */
export function doubleFromBits(bits: bigint): number {
  bitsView.setBigUint64(0, bits, true);
  return bitsView.getFloat64(0, true);
}
