// Delays for retries: exponential per key (client-go's ItemExponentialFailure-
// RateLimiter), an overall token bucket (its BucketRateLimiter), and jittered
// backoff for reconnects, so that many agents restarting at once do not come
// back in step.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** base·2^failures, capped. */
export function exponentialDelay(failures: number, baseMs: number, maxMs: number): number {
  // 2^failures overflows to Infinity past ~1000: cap the exponent first.
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures, 52));
}

/** Exponential delay scaled by a factor in [0.5, 1): spread, but never much shorter. */
export function jittered(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return exponentialDelay(failures, baseMs, maxMs) * (0.5 + random() / 2);
}

/** A token bucket: `qps` tokens a second, at most `burst` saved up. Returns how long to wait for a token. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Takes a token (possibly one not yet there) and returns the wait until it is. */
  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}
