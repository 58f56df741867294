/**
 * Logs a repeated event at most once per interval per key, with the number of occurrences it
 * swallowed in between (vmagent's throttled logger): a misconfigured edge retrying every few
 * milliseconds must not flood the log.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(intervalMs = 5000, now: () => number = Date.now) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Returns the count of suppressed events since the last allowed one, or -1 when this one is suppressed. */
  allow(key: string): number {
    const now = this.#now();
    const entry = this.#last.get(key);
    if (entry === undefined || now - entry.atMs >= this.#intervalMs) {
      const suppressed = entry?.suppressed ?? 0;
      if (this.#last.size > 10_000) this.#last.clear();
      this.#last.set(key, { atMs: now, suppressed: 0 });
      return suppressed;
    }
    entry.suppressed++;
    return -1;
  }
}
