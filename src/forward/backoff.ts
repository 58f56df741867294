/**
 * Retry pacing for one shard: capped exponential backoff with jitter, reset after a success, and a
 * backend's Retry-After taking precedence. Jitter spreads the retries of many shards (and many
 * tributary replicas) so a recovering backend is not hit by all of them at once.
 */

/** Longest Retry-After honoured: a backend asking for hours is misconfigured, not authoritative. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * - `full`: a uniform delay between min and the current exponential ceiling (min·2^attempt, capped).
 * - `decorrelated`: a uniform delay between min and 3× the previous delay, capped (AWS's variant,
 *   which grows just as fast on average but does not synchronise retries of equal attempt counts).
 */
export type JitterKind = 'full' | 'decorrelated';

export interface BackoffOptions {
  /** First and smallest delay (BackendConfig.min_backoff). */
  readonly minMs: number;
  /** Largest computed delay (BackendConfig.max_backoff). */
  readonly maxMs: number;
  readonly jitter?: JitterKind;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

/** Backoff state of one retry sequence. Not shared between shards. */
export class Backoff {
  private readonly minMs: number;
  private readonly maxMs: number;
  /** Growth base: a zero min_backoff must still grow, or retries would spin. */
  private readonly baseMs: number;
  private readonly jitter: JitterKind;
  private readonly random: () => number;
  private attempt = 0;
  private previousMs: number;

  constructor(options: BackoffOptions) {
    this.minMs = Math.max(0, options.minMs);
    this.maxMs = Math.max(this.minMs, options.maxMs);
    this.baseMs = Math.max(1, this.minMs);
    this.jitter = options.jitter ?? 'full';
    this.random = options.random ?? Math.random;
    this.previousMs = this.baseMs;
  }

  /** Retries since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /**
   * The delay before the next retry, in ms.
   * @param retryAfterMs the backend's Retry-After, when it sent one: it replaces the computed delay
   *   (at least min, at most {@link MAX_RETRY_AFTER_MS}); the exponential state still advances.
   */
  next(retryAfterMs?: number): number {
    const computedMs = this.jitter === 'full' ? this.nextFull() : this.nextDecorrelated();
    this.attempt++;
    if (retryAfterMs === undefined) return computedMs;
    return Math.min(MAX_RETRY_AFTER_MS, Math.max(this.minMs, retryAfterMs));
  }

  /** Back to the first delay: call after a success. */
  reset(): void {
    this.attempt = 0;
    this.previousMs = this.baseMs;
  }

  private nextFull(): number {
    // Stop doubling once past max: 2^attempt would overflow to Infinity after ~1000 retries.
    const ceilingMs = this.attempt >= 52 ? this.maxMs : Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    const lowMs = Math.min(this.minMs, ceilingMs);
    return Math.round(lowMs + this.random() * (ceilingMs - lowMs));
  }

  private nextDecorrelated(): number {
    const highMs = Math.min(this.maxMs, this.previousMs * 3);
    const delayMs = Math.min(this.maxMs, this.minMs + this.random() * Math.max(0, highMs - this.minMs));
    this.previousMs = Math.max(this.baseMs, delayMs);
    return Math.round(delayMs);
  }
}

/**
 * Wait `ms`, or less if `signal` aborts first. Always resolves (never rejects), so a shutdown cuts
 * a backoff short without an exception path.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
