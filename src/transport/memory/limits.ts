// The reference limit store (transport/limits.ts): buckets in this process's memory, for tests
// and for callers that want the shared store's shape without a broker. The memory transport
// does not offer it as `limits()`: with one process there is nothing to share, and admission's
// own buckets (llm/routing/tenant-limits.ts) answer without a round trip.
import {
  checkBuckets,
  stepBuckets,
  type BucketState,
  type LimitBucket,
  type LimitStore,
  type LimitTake,
} from '../limits.js';

export class MemoryLimits implements LimitStore {
  private readonly keys = new Map<string, Map<string, BucketState>>();

  constructor(
    readonly name = 'memory',
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string, buckets: readonly LimitBucket[]): Promise<LimitTake> {
    return Promise.resolve(this.step('take', key, buckets));
  }

  async adjust(key: string, buckets: readonly LimitBucket[]): Promise<void> {
    await Promise.resolve(this.step('adjust', key, buckets));
  }

  private step(mode: 'take' | 'adjust', key: string, buckets: readonly LimitBucket[]): LimitTake {
    checkBuckets(buckets);
    let stored = this.keys.get(key);
    if (stored === undefined) {
      stored = new Map();
      this.keys.set(key, stored);
    }
    const held = stored;
    const { states, take } = stepBuckets(
      buckets.map((b) => held.get(b.name)),
      buckets,
      mode,
      this.now(),
    );
    if (take.waitMs === 0) buckets.forEach((b, i) => held.set(b.name, states[i]!));
    return take;
  }
}
