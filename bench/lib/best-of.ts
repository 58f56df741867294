/**
 * Timing for micro-benchmarks: the best of several timed repetitions, since this machine's
 * neighbours only ever add time, so the minimum is the code's own cost.
 */
export interface BestOfOptions {
  /** Untimed calls first, so the JIT has compiled the code being measured. */
  readonly warmup: number;
  readonly repetitions: number;
  /** Calls per timed repetition. */
  readonly rounds: number;
}

/**
 * Nanoseconds of the fastest repetition of `rounds` calls of `run(round)`. `reset` runs before the
 * warm-up and before each repetition, untimed.
 */
export function bestOf(options: BestOfOptions, run: (round: number) => void, reset: () => void = () => {}): number {
  reset();
  for (let i = 0; i < options.warmup; i++) run(i);
  let best = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < options.repetitions; rep++) {
    reset();
    const start = process.hrtime.bigint();
    for (let i = 0; i < options.rounds; i++) run(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  return best;
}
