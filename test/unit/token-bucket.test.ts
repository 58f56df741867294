/** TokenBucket with a fake clock: refill, burst cap, all-or-nothing takes, waits, reconfiguration. */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/limits/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full and refuses a take beyond what it holds, taking nothing then', () => {
    const b = new TokenBucket(10, 100, 0);
    expect(b.tryTake(60, 0)).toBe(true);
    expect(b.tryTake(60, 0)).toBe(false);
    expect(b.available(0)).toBe(40);
  });

  it.each([
    // [elapsed ms, tokens after spending all 100 at t=0]
    [0, 0],
    [100, 1],
    [1000, 10],
    [5000, 50],
    [60_000, 100], // capped at the burst
  ])('refills at its rate: %i ms after emptying it holds %i', (elapsed, tokens) => {
    const b = new TokenBucket(10, 100, 0);
    expect(b.tryTake(100, 0)).toBe(true);
    expect(b.available(elapsed)).toBeCloseTo(tokens, 9);
  });

  it('tells how long until n tokens are there, and never for more than the burst', () => {
    const b = new TokenBucket(10, 100, 0);
    b.tryTake(100, 0);
    expect(b.waitMs(5, 0)).toBe(500);
    expect(b.waitMs(5, 500)).toBe(0);
    expect(b.waitMs(101, 500)).toBe(Number.POSITIVE_INFINITY);
  });

  it('ignores a clock that goes backwards', () => {
    const b = new TokenBucket(10, 100, 1000);
    b.tryTake(100, 1000);
    expect(b.available(500)).toBe(0);
    expect(b.available(1100)).toBeCloseTo(1, 9);
  });

  it('keeps what it holds on reconfigure, capped by the new burst', () => {
    const b = new TokenBucket(10, 100, 0);
    b.tryTake(30, 0);
    b.reconfigure(1, 50, 0);
    expect(b.available(0)).toBe(50);
    b.tryTake(50, 0);
    b.reconfigure(100, 1000, 0);
    expect(b.available(0)).toBe(0);
    expect(b.available(1000)).toBe(100);
  });
});
