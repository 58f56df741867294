/**
 * Partial rejection as an accumulator: stages record verdicts as data while the request is
 * processed; only at the end does the first rejection become the 400 message. No Error object is
 * created per series.
 */
import { RejectedSeriesError, type SeriesRejectReason } from '../errors.js';

export class RejectionSummary {
  /** Rejected series and samples by reason. */
  readonly series = new Map<SeriesRejectReason, number>();
  readonly samples = new Map<SeriesRejectReason, number>();
  firstReason: SeriesRejectReason | undefined = undefined;
  firstMessage = '';

  get isEmpty(): boolean {
    return this.firstReason === undefined;
  }

  /**
   * Record rejected data. `describe` builds the message only for the first rejection of the request
   * (it renders the series, which costs strings).
   */
  add(reason: SeriesRejectReason, samples: number, wholeSeries: boolean, describe: () => string): void {
    if (this.firstReason === undefined) {
      this.firstReason = reason;
      this.firstMessage = describe();
    }
    if (wholeSeries) this.series.set(reason, (this.series.get(reason) ?? 0) + 1);
    this.samples.set(reason, (this.samples.get(reason) ?? 0) + samples);
  }

  /** The 400 answer: the first problem first (Prometheus logs only ~1 KiB), then the totals. */
  toError(totalSeries: number): RejectedSeriesError {
    let rejectedSeries = 0;
    let rejectedSamples = 0;
    for (const n of this.series.values()) rejectedSeries += n;
    for (const n of this.samples.values()) rejectedSamples += n;
    const reasons = [...this.samples.keys()].join(', ');
    const summary = `${rejectedSeries} of ${totalSeries} series and ${rejectedSamples} samples rejected (${reasons}); the other data of this request was accepted`;
    const first = this.firstMessage.length > 700 ? `${this.firstMessage.slice(0, 697)}...` : this.firstMessage;
    return new RejectedSeriesError(this.firstReason ?? 'invalid_label_name', `${first}; ${summary}`);
  }
}
