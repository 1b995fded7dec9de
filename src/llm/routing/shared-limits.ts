// Tenant rate limits shared by every gateway on one broker: the tenant's requests and tokens
// buckets live in the transport's limit store (transport/limits.ts), so N gateways behind a
// balancer hand out one tenant limit between them, not N. The same estimate-then-settle as the
// local limiter: a request takes one request and its estimated tokens when admitted, gives them
// back if it never runs, and settles the tokens with the real usage when it ends.
//
// Fail-open: when the store does not answer within `timeoutMs` or fails (broker away, grants
// refused), the request is checked and charged against this gateway's own buckets instead
// (tenant-limits.ts, the limits without a broker), a SharedLimitsUnavailableError is logged once
// per outage, and the shared buckets are used again from the next request that reaches them.
import type { Logger } from '../../ops/index.js';
import { LocalError, RateLimitedError } from '../../protocol/index.js';
import type { LimitBucket, LimitStore } from '../../transport/limits.js';
import type { TenantLimiter } from './tenant-limits.js';

/** What a request was charged, to give back or settle when it ends. */
export interface TenantCharge {
  /** Gives back a request that never ran. */
  refund(): void;
  /** Corrects the token charge from the estimate to what the request really used. */
  settle(used: number): void;
}

/** The shared limit store failed or timed out; the gateway's own limits answered instead. */
export class SharedLimitsUnavailableError extends LocalError {
  override name = 'SharedLimitsUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('shared_limits_unavailable', message, options);
  }
}

/** The store's key of a tenant: any tenant name, in characters every store's keys take. */
function tenantKey(tenant: string): string {
  return `t.${Buffer.from(tenant).toString('base64url') || '_'}`;
}

export class SharedTenantLimits {
  private failing = false;

  constructor(
    private readonly store: LimitStore,
    /** The limits by tenant, and the buckets used while the store is away. */
    private readonly local: TenantLimiter,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  /**
   * Checks and charges one request of `tokens`; throws RateLimitedError with
   * `details.retryAfterMs` when a shared bucket cannot give it now.
   */
  async acquire(tenant: string, tokens: number, now: () => number): Promise<TenantCharge> {
    const limits = this.local.limitsOf(tenant);
    const buckets: LimitBucket[] = [];
    if (limits.requestsPerMinute !== undefined) {
      buckets.push({ name: 'requests', perMinute: limits.requestsPerMinute, amount: 1 });
    }
    if (limits.tokensPerMinute !== undefined) {
      buckets.push({ name: 'tokens', perMinute: limits.tokensPerMinute, amount: tokens });
    }
    if (buckets.length === 0) return NO_CHARGE;
    const key = tenantKey(tenant);
    let take;
    try {
      take = await this.timed(this.store.take(key, buckets));
      this.recovered();
    } catch (err) {
      this.failed(err);
      this.local.check(tenant, tokens, now());
      this.local.charge(tenant, tokens, now());
      return {
        refund: () => this.local.refund(tenant, tokens, now()),
        settle: (used) => this.local.settle(tenant, tokens, used, now()),
      };
    }
    if (take.waitMs > 0) {
      const limit =
        buckets[take.bucket]?.name === 'tokens' ? 'tokens_per_minute' : 'requests_per_minute';
      throw new RateLimitedError(`rate limit reached: ${limit.replaceAll('_', ' ')}`, {
        details: { limit, retryAfterMs: take.waitMs },
      });
    }
    return {
      refund: () => this.adjust(key, buckets, (b) => -b.amount),
      settle: (used) => {
        const tokenBucket = buckets.find((b) => b.name === 'tokens');
        if (tokenBucket === undefined || used === tokens) return;
        this.adjust(key, [tokenBucket], () => used - tokens);
      },
    };
  }

  /** Changes a key's buckets in the background; a failure only logs (the charge stays). */
  private adjust(
    key: string,
    buckets: readonly LimitBucket[],
    amount: (b: LimitBucket) => number,
  ): void {
    const changes = buckets.map((b) => ({ ...b, amount: amount(b) }));
    this.timed(this.store.adjust(key, changes)).then(
      () => this.recovered(),
      (err: unknown) => this.failed(err),
    );
  }

  private timed<T>(op: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new SharedLimitsUnavailableError(
              `limit store '${this.store.name}' did not answer within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
      op.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  private failed(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    const error =
      err instanceof SharedLimitsUnavailableError
        ? err
        : new SharedLimitsUnavailableError(`limit store '${this.store.name}' failed`, {
            cause: err,
          });
    this.log.warn(
      { err: error, code: error.code },
      "shared rate limits unavailable: this gateway's own limits apply until the broker answers",
    );
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info({ store: this.store.name }, 'shared rate limits available again');
  }
}

const NO_CHARGE: TenantCharge = { refund: () => undefined, settle: () => undefined };
