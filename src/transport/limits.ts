// Shared rate-limit buckets: token buckets kept on the broker, so that several processes on one
// broker (gateways behind a load balancer) draw from one bucket per key instead of one each.
// Every bucket follows the rules of a local token bucket (llm/routing/token-bucket.ts): it
// refills continuously at `perMinute` a minute, holds at most one minute's worth, starts full,
// and may go into debt when more is charged than it holds.

/** One bucket of a key, with what an operation takes from it. */
export interface LimitBucket {
  /** The bucket's name within its key (`requests`, `tokens`): 1-16 letters. */
  readonly name: string;
  /** Refill rate in units a minute; also the bucket's size. */
  readonly perMinute: number;
  /** Units taken (positive) or given back (negative). */
  readonly amount: number;
}

/** What a take answered: 0 when every bucket gave its amount, else the wait and the bucket. */
export interface LimitTake {
  /** Milliseconds until every bucket could give its amount; 0 when it was taken. */
  readonly waitMs: number;
  /** Index (in the buckets given) of the bucket with the longest wait; -1 when taken. */
  readonly bucket: number;
}

/**
 * Token buckets on the broker, by key. A key's buckets change together in one atomic step, so
 * processes racing for the last units of a bucket never both get them. Operations reject with a
 * WireError (UnavailableError while the broker is unreachable, ForbiddenError when the broker's
 * grants refuse the store) and never leave a key half changed.
 */
export interface LimitStore {
  readonly name: string;
  /**
   * Takes every bucket's amount when each holds at least min(amount, perMinute) now (so an
   * amount larger than a bucket needs a full bucket and leaves it in debt); otherwise takes
   * nothing and answers the longest wait.
   */
  take(key: string, buckets: readonly LimitBucket[]): Promise<LimitTake>;
  /** Takes each bucket's amount without checking (a negative amount gives back), capped full. */
  adjust(key: string, buckets: readonly LimitBucket[]): Promise<void>;
}

/** Bucket names: short, so they fit any store's field or JSON key. */
export const LIMIT_BUCKET_RE = /^[a-z]{1,16}$/;

/** A full bucket after this long untouched: stores may forget a key idle past it. */
export const LIMIT_IDLE_MS = 60_000;

/** Throws RangeError on a bucket a store cannot keep (bad name, rate or amount). */
export function checkBuckets(buckets: readonly LimitBucket[]): void {
  for (const b of buckets) {
    if (!LIMIT_BUCKET_RE.test(b.name)) throw new RangeError(`bad limit bucket name '${b.name}'`);
    if (!(Number.isFinite(b.perMinute) && b.perMinute > 0)) {
      throw new RangeError(`limit bucket '${b.name}' needs a rate above 0, got ${b.perMinute}`);
    }
    if (!Number.isFinite(b.amount)) {
      throw new RangeError(`limit bucket '${b.name}' needs a finite amount, got ${b.amount}`);
    }
  }
}

/** The state of one bucket as a store keeps it: level in units * 60000, and when it was set. */
export interface BucketState {
  l: number;
  a: number;
}

const MINUTE_MS = 60_000;

/**
 * A bucket's level (units * 60000) refilled from `at` to `now` at `perMinute` units a minute,
 * capped at a full bucket: one minute's worth. The one refill rule of every token bucket,
 * local (llm/routing/token-bucket.ts) or shared.
 */
export function refillLevel(level: number, at: number, perMinute: number, now: number): number {
  const refilled = now > at ? level + (now - at) * perMinute : level;
  return Math.min(perMinute * MINUTE_MS, refilled);
}

/**
 * Milliseconds until a bucket at `level` (units * 60000) can give `amount`; 0 when it can now.
 * An amount larger than the bucket needs a full bucket, and leaves it in debt once taken.
 */
export function bucketWaitMs(level: number, amount: number, perMinute: number): number {
  const need = Math.min(amount, perMinute) * MINUTE_MS;
  return level >= need ? 0 : Math.ceil((need - level) / perMinute);
}

/**
 * The step every store runs on a key's buckets (the Redis script runs the same in Lua): refill
 * to `now`, then take (all or nothing) or adjust. Returns the new states and the answer.
 */
export function stepBuckets(
  states: readonly (BucketState | undefined)[],
  buckets: readonly LimitBucket[],
  mode: 'take' | 'adjust',
  now: number,
): { states: BucketState[]; take: LimitTake } {
  const levels = buckets.map((b, i) => {
    const s = states[i];
    return s === undefined ? b.perMinute * MINUTE_MS : refillLevel(s.l, s.a, b.perMinute, now);
  });
  if (mode === 'take') {
    let waitMs = 0;
    let worst = -1;
    buckets.forEach((b, i) => {
      const wait = bucketWaitMs(levels[i]!, b.amount, b.perMinute);
      if (wait > waitMs) {
        waitMs = wait;
        worst = i;
      }
    });
    if (waitMs > 0) {
      return { states: levels.map((l) => ({ l, a: now })), take: { waitMs, bucket: worst } };
    }
  }
  const next = buckets.map((b, i) => {
    const cap = b.perMinute * MINUTE_MS;
    return { l: Math.min(cap, levels[i]! - b.amount * MINUTE_MS), a: now };
  });
  return { states: next, take: { waitMs: 0, bucket: -1 } };
}
