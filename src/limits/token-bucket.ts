/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. Used for a tenant's
 * ingestion rate (tokens are samples) and request rate (tokens are requests), as Mimir's
 * distributor does. Time comes from the caller (milliseconds), so tests drive it with a fake clock.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #updatedMs: number;

  constructor(rate: number, burst: number, nowMs: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedMs = nowMs;
  }

  get rate(): number {
    return this.#rate;
  }

  get burst(): number {
    return this.#burst;
  }

  /** Tokens available now (refilled for the time passed). */
  available(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /** Take `n` tokens if there are that many; otherwise take nothing. */
  tryTake(n: number, nowMs: number): boolean {
    this.#refill(nowMs);
    if (n > this.#tokens) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens will be available (0: now; Infinity: never, n > burst). */
  waitMs(n: number, nowMs: number): number {
    if (n > this.#burst) return Number.POSITIVE_INFINITY;
    this.#refill(nowMs);
    if (n <= this.#tokens) return 0;
    return ((n - this.#tokens) / this.#rate) * 1000;
  }

  /**
   * New limits (a config reload): the tokens already earned are kept, up to the new burst, so a
   * reload neither hands out a fresh burst nor takes away what a tenant had saved.
   */
  reconfigure(rate: number, burst: number, nowMs: number): void {
    this.#refill(nowMs);
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  #refill(nowMs: number): void {
    const elapsedMs = nowMs - this.#updatedMs;
    // A clock that went backwards adds nothing (and does not move the reference back).
    if (elapsedMs <= 0) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#rate);
    this.#updatedMs = nowMs;
  }
}
