// A token bucket refilled continuously at a per-minute rate and holding at most one minute's
// worth. Kept in integer units of token-milliseconds-per-minute (tokens * 60000), so refills and
// retry times are exact for whole-token amounts and a rate of N per minute gives back exactly
// one token every 60000/N ms. The refill and wait rules are the shared buckets' own
// (transport/limits.ts), so a tenant is limited alike by one gateway or by several.
import { bucketWaitMs, refillLevel } from '../../transport/limits.js';

const MINUTE_MS = 60_000;

export class TokenBucket {
  /** Tokens * 60000. */
  private level: number;
  private at: number;

  constructor(
    private perMinute: number,
    now: number,
  ) {
    this.level = perMinute * MINUTE_MS;
    this.at = now;
  }

  get limit(): number {
    return this.perMinute;
  }

  /** Tokens available now (may be negative after an underestimate). */
  available(now: number): number {
    this.refill(now);
    return this.level / MINUTE_MS;
  }

  /**
   * Milliseconds until `amount` can be taken; 0 when it can be now. An amount larger than the
   * bucket needs a full bucket and leaves it in debt, so a big request is slowed, not refused
   * forever.
   */
  waitMs(amount: number, now: number): number {
    this.refill(now);
    return bucketWaitMs(this.level, amount, this.perMinute);
  }

  take(amount: number, now: number): void {
    this.refill(now);
    this.level -= amount * MINUTE_MS;
  }

  /** Gives back (positive) or charges more (negative), e.g. actual usage against an estimate. */
  adjust(delta: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.perMinute * MINUTE_MS, this.level + delta * MINUTE_MS);
  }

  /** A new rate; the level is kept, trimmed to the new size. */
  setLimit(perMinute: number, now: number): void {
    this.refill(now);
    this.perMinute = perMinute;
    this.level = Math.min(perMinute * MINUTE_MS, this.level);
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.level = refillLevel(this.level, this.at, this.perMinute, now);
    this.at = now;
  }
}
