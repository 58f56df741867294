import { describe, expect, it } from 'vitest';
import { Backoff, MAX_RETRY_AFTER_MS, sleep } from '../../../src/forward/backoff.js';

/** A random source that returns the given values in turn, then repeats the last one. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] ?? 0;
}

describe('Backoff (full jitter)', () => {
  it('doubles its ceiling from min up to max', () => {
    const b = new Backoff({ minMs: 50, maxMs: 1000, random: () => 0.999999 });
    const delays = Array.from({ length: 8 }, () => b.next());
    expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('never goes below min', () => {
    const b = new Backoff({ minMs: 50, maxMs: 1000, random: () => 0 });
    expect(Array.from({ length: 6 }, () => b.next())).toEqual([50, 50, 50, 50, 50, 50]);
  });

  it('stays within [min, max] for any randomness and many attempts', () => {
    const b = new Backoff({ minMs: 30, maxMs: 5000 });
    for (let i = 0; i < 5000; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(30);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });

  it('starts over after reset', () => {
    const b = new Backoff({ minMs: 10, maxMs: 1000, random: () => 0.999999 });
    b.next();
    b.next();
    b.next();
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(10);
  });

  it('still grows when min is 0 (no hot retry loop)', () => {
    const b = new Backoff({ minMs: 0, maxMs: 100, random: () => 0.999999 });
    const delays = Array.from({ length: 10 }, () => b.next());
    expect(delays.at(-1)).toBe(100);
  });
});

describe('Backoff (decorrelated jitter)', () => {
  it('grows up to 3x the previous delay and caps at max', () => {
    const b = new Backoff({ minMs: 100, maxMs: 2000, jitter: 'decorrelated', random: () => 0.999999 });
    expect(Array.from({ length: 5 }, () => b.next())).toEqual([300, 900, 2000, 2000, 2000]);
  });

  it('stays within [min, max]', () => {
    const b = new Backoff({ minMs: 100, maxMs: 2000, jitter: 'decorrelated', random: sequence(0.9, 0.1, 0.5, 0, 0.99, 0.3) });
    for (let i = 0; i < 200; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});

describe('Backoff with Retry-After', () => {
  it('uses the backend delay instead of the computed one, bounded below by min and above by 5 minutes', () => {
    const b = new Backoff({ minMs: 50, maxMs: 1000, random: () => 0.5 });
    expect(b.next(3000)).toBe(3000);
    expect(b.next(0)).toBe(50);
    expect(b.next(24 * 3600_000)).toBe(MAX_RETRY_AFTER_MS);
    // The exponential state kept advancing underneath.
    expect(b.attempts).toBe(3);
  });
});

describe('sleep', () => {
  it('waits about the given time', async () => {
    const started = performance.now();
    await sleep(30, new AbortController().signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('resolves early when aborted, and at once when already aborted', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const sleeping = sleep(60_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    await sleeping;
    expect(performance.now() - started).toBeLessThan(5000);
    await expect(sleep(60_000, controller.signal)).resolves.toBeUndefined();
  });
});
