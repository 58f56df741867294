/**
 * Partial rejection as an accumulator: stages record verdicts as data while the request is
 * processed; only at the end does the first rejection become the 400 message. No Error object is
 * created per series.
 */
import { RejectedSeriesError, type SeriesRejectReason } from '../errors.js';

/** Rejected series and samples of one (cluster, reason). */
export interface RejectionCount {
  series: number;
  samples: number;
}

export class RejectionSummary {
  /** cluster ('' when the data named none the token may write) → reason → what was rejected. */
  readonly byCluster = new Map<string, Map<SeriesRejectReason, RejectionCount>>();
  firstReason: SeriesRejectReason | undefined = undefined;
  firstMessage = '';

  get isEmpty(): boolean {
    return this.firstReason === undefined;
  }

  /**
   * Record rejected data. `describe` builds the message only for the first rejection of the request
   * (it renders the series, which costs strings).
   */
  add(reason: SeriesRejectReason, cluster: string, samples: number, wholeSeries: boolean, describe: () => string): void {
    if (this.firstReason === undefined) {
      this.firstReason = reason;
      this.firstMessage = describe();
    }
    let reasons = this.byCluster.get(cluster);
    if (reasons === undefined) {
      reasons = new Map();
      this.byCluster.set(cluster, reasons);
    }
    let count = reasons.get(reason);
    if (count === undefined) {
      count = { series: 0, samples: 0 };
      reasons.set(reason, count);
    }
    if (wholeSeries) count.series++;
    count.samples += samples;
  }

  /** The 400 answer: the first problem first (Prometheus logs only ~1 KiB), then the totals. */
  toError(totalSeries: number): RejectedSeriesError {
    let rejectedSeries = 0;
    let rejectedSamples = 0;
    const reasons = new Set<SeriesRejectReason>();
    for (const byReason of this.byCluster.values()) {
      for (const [reason, count] of byReason) {
        reasons.add(reason);
        rejectedSeries += count.series;
        rejectedSamples += count.samples;
      }
    }
    const summary = `${rejectedSeries} of ${totalSeries} series and ${rejectedSamples} samples rejected (${[...reasons].join(', ')}); the other data of this request was accepted`;
    const first = this.firstMessage.length > 700 ? `${this.firstMessage.slice(0, 697)}...` : this.firstMessage;
    return new RejectedSeriesError(this.firstReason ?? 'invalid_label_name', `${first}; ${summary}`);
  }
}
