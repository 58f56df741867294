/** Usage deltas and rows for tests: every counter 0 unless given. */
import type { UsageDelta, UsageRow } from '../../src/usage/types.js';

export function usageDelta(fields: Partial<UsageDelta> = {}): UsageDelta {
  return { acceptedSamples: 0, rejectedSamples: 0, acceptedSeries: 0, rejectedSeries: 0, requests: 0, rejectedRequests: 0, ...fields };
}

export function usageRow(fields: Partial<UsageRow> & Pick<UsageRow, 'hourStartMs'>): UsageRow {
  return { tenant: 'acme', cluster: 'eu-1', ...usageDelta(), activeSeries: undefined, ...fields };
}
