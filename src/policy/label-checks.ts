/**
 * Label validation over a WireBatch, on bytes: no string is created for a valid series.
 *
 * Protects the central Prometheus 2.42, which stores invalid names as they come, answers 500
 * (retried forever) for duplicate names and empty label sets, and keeps labels with empty values
 * only to drop them itself (reference: remote-write-and-relabel-facts.md §4).
 */
import { isAscii as isAsciiNative, isUtf8 } from 'node:buffer';
import type { SeriesRejectReason } from '../errors.js';
import type { WireBatch } from '../model/batch.js';

export const METRIC_NAME_LABEL = Buffer.from('__name__');

/** Outcome of checking one series' labels. */
export enum LabelShape {
  /** Sorted, unique, valid, no empty values: can be copied verbatim. */
  Clean = 0,
  /** Valid, but must be re-emitted: unsorted, or has labels with empty values to leave out. */
  NeedsRewrite = 1,
}

/** Result holder reused across series (avoids an object per series). */
export class LabelCheckResult {
  shape: LabelShape = LabelShape.Clean;
  reason: SeriesRejectReason | undefined = undefined;
  /** Index (in the batch's label arrays) of the label that broke the rule, for the message. */
  badLabel = -1;
  /** Label index of the cluster label, or -1 when the series has none (or its value is empty). */
  clusterLabel = -1;
  /** Whether the labels on the wire were in sorted order. */
  sorted = true;
}

/** Per byte: 2 = may start a label name ([a-zA-Z_]), 1 = may continue one ([0-9]), 0 = invalid. */
const NAME_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
  NAME_CHAR[c] = letter ? 2 : c >= 0x30 && c <= 0x39 ? 1 : 0;
}

function isValidLabelNameBytes(buf: Buffer, start: number, end: number): boolean {
  if (end <= start || NAME_CHAR[buf[start] as number] !== 2) return false;
  for (let i = start + 1; i < end; i++) if (NAME_CHAR[buf[i] as number] === 0) return false;
  return true;
}

/** All bytes below 0x80: one OR over the range, no branch per byte. */
function isAscii(buf: Buffer, start: number, end: number): boolean {
  let bits = 0;
  for (let i = start; i < end; i++) bits |= buf[i] as number;
  return bits < 0x80;
}

/**
 * Order of a[aStart, aEnd) against b[bStart, bEnd) by bytes: < 0, 0 or > 0. A JS loop: label
 * names are short, and a native Buffer.compare call costs more than the bytes it compares.
 */
export function compareBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = Math.min(aLen, bLen);
  for (let i = 0; i < n; i++) {
    const d = (a[aStart + i] as number) - (b[bStart + i] as number);
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

function bytesEqual(buf: Buffer, start: number, end: number, other: Buffer): boolean {
  const len = end - start;
  if (len !== other.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== other[i]) return false;
  return true;
}

/**
 * Check the labels of series `s`: names valid and unique, `__name__` present, values valid UTF-8,
 * and note where the cluster label is. Fills `out`; `out.reason` is set when the series must be rejected.
 */
export function checkSeriesLabels(batch: WireBatch, s: number, clusterLabel: Buffer, out: LabelCheckResult): void {
  const buf = batch.buf;
  const first = batch.seriesLabelFirst[s] as number;
  const count = batch.seriesLabelCount[s] as number;
  out.shape = LabelShape.Clean;
  out.reason = undefined;
  out.badLabel = -1;
  out.clusterLabel = -1;
  out.sorted = true;

  // One native scan over the series' whole label block (names, values and their protobuf
  // framing): when it is all ASCII, every value is valid UTF-8 and the per-value check is skipped.
  let allAscii = false;
  if (count > 0) allAscii = isAsciiNative(buf.subarray(batch.labelBlockStart(s), batch.labelBlockEnd(s)));
  let nonEmpty = 0;
  let hasName = false;
  for (let k = first; k < first + count; k++) {
    const ns = batch.nameStart[k] as number;
    const ne = batch.nameEnd[k] as number;
    const vs = batch.valueStart[k] as number;
    const ve = batch.valueEnd[k] as number;
    if (ne === ns) {
      out.reason = 'empty_label_name';
      out.badLabel = k;
      return;
    }
    if (!isValidLabelNameBytes(buf, ns, ne)) {
      out.reason = 'invalid_label_name';
      out.badLabel = k;
      return;
    }
    if (!allAscii && !isAscii(buf, vs, ve) && !isUtf8(buf.subarray(vs, ve))) {
      out.reason = 'invalid_utf8';
      out.badLabel = k;
      return;
    }
    if (k > first) {
      const prev = k - 1;
      // > 0 when this name sorts after the previous one.
      const cmp = compareBytes(buf, ns, ne, buf, batch.nameStart[prev] as number, batch.nameEnd[prev] as number);
      if (cmp === 0) {
        out.reason = 'duplicate_label';
        out.badLabel = k;
        return;
      }
      if (cmp < 0) out.sorted = false;
    }
    if (ve === vs) {
      // Prometheus treats an empty value as an absent label; leave it out on the way through.
      out.shape = LabelShape.NeedsRewrite;
      continue;
    }
    nonEmpty++;
    if (!hasName && bytesEqual(buf, ns, ne, METRIC_NAME_LABEL)) hasName = true;
    if (bytesEqual(buf, ns, ne, clusterLabel)) out.clusterLabel = k;
  }
  if (nonEmpty === 0) {
    out.reason = 'empty_labelset';
    return;
  }
  if (!out.sorted) {
    // Unsorted input can hide duplicates that are not neighbours: check the sorted order.
    const order = sortedLabelOrder(batch, s);
    for (let j = 1; j < order.length; j++) {
      const a = order[j - 1] as number;
      const b = order[j] as number;
      if (compareBytes(buf, batch.nameStart[a] as number, batch.nameEnd[a] as number, buf, batch.nameStart[b] as number, batch.nameEnd[b] as number) === 0) {
        out.reason = 'duplicate_label';
        out.badLabel = b;
        return;
      }
    }
    out.shape = LabelShape.NeedsRewrite;
  }
  if (!hasName) out.reason = 'missing_metric_name';
}

/** Label indexes of series `s` in sorted name order (allocates: for the rare unsorted series only). */
export function sortedLabelOrder(batch: WireBatch, s: number): number[] {
  const first = batch.seriesLabelFirst[s] as number;
  const count = batch.seriesLabelCount[s] as number;
  const order: number[] = [];
  for (let k = first; k < first + count; k++) order.push(k);
  const buf = batch.buf;
  order.sort((a, b) => compareBytes(buf, batch.nameStart[a] as number, batch.nameEnd[a] as number, buf, batch.nameStart[b] as number, batch.nameEnd[b] as number));
  return order;
}

/** Render series `s` as `{a="b", ...}` for messages, cut to `maxChars` (Mimir uses 200). */
export function renderSeries(batch: WireBatch, s: number, maxChars = 200): string {
  const buf = batch.buf;
  const first = batch.seriesLabelFirst[s] as number;
  const count = batch.seriesLabelCount[s] as number;
  const parts: string[] = [];
  for (let k = first; k < first + count; k++) {
    const name = buf.toString('utf8', batch.nameStart[k], batch.nameEnd[k]);
    const value = buf.toString('utf8', batch.valueStart[k], batch.valueEnd[k]);
    parts.push(`${name}=${JSON.stringify(value)}`);
  }
  const text = `{${parts.join(', ')}}`;
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}
