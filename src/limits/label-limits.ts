/**
 * A tenant's per-series label limits, checked on the label bytes as they arrived (lengths in
 * bytes, as Mimir measures them). A series over one is refused; the rest of its request passes.
 */
import type { SeriesRejectReason } from '../errors.js';
import type { WireBatch } from '../model/batch.js';
import type { TenantLimits } from './limits.js';

/** A tenant's label limits, or undefined when it has none (the check is then skipped). */
export function labelLimitsOf(l: TenantLimits): LabelLimits | undefined {
  if (l.max_label_names_per_series === 0 && l.max_label_name_length === 0 && l.max_label_value_length === 0) return undefined;
  return { maxLabelNamesPerSeries: l.max_label_names_per_series, maxLabelNameLength: l.max_label_name_length, maxLabelValueLength: l.max_label_value_length };
}

export interface LabelLimits {
  /** 0: no limit (each field). */
  readonly maxLabelNamesPerSeries: number;
  readonly maxLabelNameLength: number;
  readonly maxLabelValueLength: number;
}

/** What broke a label limit: the reason, the label (index in the batch, -1 for the count) and the limit's value. */
export interface LabelLimitViolation {
  readonly reason: Extract<SeriesRejectReason, 'max_label_names_per_series' | 'label_name_too_long' | 'label_value_too_long'>;
  readonly label: number;
  readonly limit: number;
}

/** The first label limit series `s` breaks, or undefined. */
export function checkLabelLimits(batch: WireBatch, s: number, limits: LabelLimits): LabelLimitViolation | undefined {
  const first = batch.seriesLabelFirst[s] as number;
  const count = batch.seriesLabelCount[s] as number;
  if (limits.maxLabelNamesPerSeries > 0 && count > limits.maxLabelNamesPerSeries) {
    return { reason: 'max_label_names_per_series', label: -1, limit: limits.maxLabelNamesPerSeries };
  }
  const maxName = limits.maxLabelNameLength;
  const maxValue = limits.maxLabelValueLength;
  if (maxName === 0 && maxValue === 0) return undefined;
  for (let k = first; k < first + count; k++) {
    if (maxName > 0 && (batch.nameEnd[k] as number) - (batch.nameStart[k] as number) > maxName) {
      return { reason: 'label_name_too_long', label: k, limit: maxName };
    }
    if (maxValue > 0 && (batch.valueEnd[k] as number) - (batch.valueStart[k] as number) > maxValue) {
      return { reason: 'label_value_too_long', label: k, limit: maxValue };
    }
  }
  return undefined;
}
