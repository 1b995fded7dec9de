// Per-tenant rate limits for admission: a requests-per-minute and a tokens-per-minute bucket
// each, charged with an estimate when a request is admitted and settled with the real usage
// when it ends, plus the tenant's weight for fair sharing.
import { Type } from '@sinclair/typebox';
import { optionsCheck, RateLimitedError } from '../../protocol/index.js';
import { TokenBucket } from './token-bucket.js';

export interface TenantLimits {
  /** Share of a contended priority class relative to other tenants' weights. Default 1. */
  weight?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

interface TenantState {
  weight: number;
  requests: TokenBucket | undefined;
  tokens: TokenBucket | undefined;
}

/** The bucket for a new limit: the old one re-sized (keeping its level), a new one, or none. */
function rebucket(
  bucket: TokenBucket | undefined,
  perMinute: number | undefined,
  now: number,
): TokenBucket | undefined {
  if (perMinute === undefined) return undefined;
  if (bucket === undefined) return new TokenBucket(perMinute, now);
  bucket.setLimit(perMinute, now);
  return bucket;
}

const Positive = Type.Number({ exclusiveMinimum: 0 });

/** The schema of one tenant's limits (also part of the admission options' schema). */
export const TenantLimitsSchema = Type.Object(
  {
    weight: Type.Optional(Positive),
    requestsPerMinute: Type.Optional(Positive),
    tokensPerMinute: Type.Optional(Positive),
  },
  { additionalProperties: false },
);

/** Checks limits given in the admission options' shape, so errors name `tenants.<id>.<field>`. */
const checkLimits = optionsCheck(
  'admission',
  Type.Object({
    defaultTenantLimits: Type.Optional(TenantLimitsSchema),
    tenants: Type.Optional(Type.Record(Type.String(), TenantLimitsSchema)),
  }),
);

export class TenantLimiter {
  private readonly limits = new Map<string, TenantLimits>();
  private readonly states = new Map<string, TenantState>();
  private readonly defaults: TenantLimits;

  constructor(defaults: TenantLimits = {}, tenants: Readonly<Record<string, TenantLimits>> = {}) {
    checkLimits({ defaultTenantLimits: defaults });
    this.defaults = defaults;
    for (const [tenant, limits] of Object.entries(tenants)) this.setLimits(tenant, limits, 0);
  }

  /** Replaces a tenant's limits; existing buckets keep their level, trimmed to the new size. */
  setLimits(tenant: string, limits: TenantLimits, now: number): void {
    checkLimits({ tenants: { [tenant]: limits } });
    this.limits.set(tenant, limits);
    const state = this.states.get(tenant);
    if (state === undefined) return;
    state.weight = limits.weight ?? 1;
    state.requests = rebucket(state.requests, limits.requestsPerMinute, now);
    state.tokens = rebucket(state.tokens, limits.tokensPerMinute, now);
  }

  /** The limits that apply to a tenant: its own, else the defaults. */
  limitsOf(tenant: string): TenantLimits {
    return this.limits.get(tenant) ?? this.defaults;
  }

  weight(tenant: string, now: number): number {
    return this.state(tenant, now).weight;
  }

  /**
   * Throws RateLimitedError when the tenant cannot take one request of `tokens` now, with
   * `details.retryAfterMs` the time until both buckets hold enough.
   */
  check(tenant: string, tokens: number, now: number): void {
    const state = this.state(tenant, now);
    const requestWait = state.requests?.waitMs(1, now) ?? 0;
    const tokenWait = state.tokens?.waitMs(tokens, now) ?? 0;
    if (requestWait === 0 && tokenWait === 0) return;
    const limit = requestWait >= tokenWait ? 'requests_per_minute' : 'tokens_per_minute';
    throw new RateLimitedError(`rate limit reached: ${limit.replaceAll('_', ' ')}`, {
      details: { limit, retryAfterMs: Math.max(requestWait, tokenWait) },
    });
  }

  charge(tenant: string, tokens: number, now: number): void {
    const state = this.state(tenant, now);
    state.requests?.take(1, now);
    state.tokens?.take(tokens, now);
  }

  /** Gives back a request that never ran. */
  refund(tenant: string, tokens: number, now: number): void {
    const state = this.states.get(tenant);
    state?.requests?.adjust(1, now);
    state?.tokens?.adjust(tokens, now);
  }

  /** Corrects the token charge from the estimate to what the request really used. */
  settle(tenant: string, estimated: number, used: number, now: number): void {
    this.states.get(tenant)?.tokens?.adjust(estimated - used, now);
  }

  private state(tenant: string, now: number): TenantState {
    let state = this.states.get(tenant);
    if (state === undefined) {
      const limits = this.limitsOf(tenant);
      const rpm = limits.requestsPerMinute;
      const tpm = limits.tokensPerMinute;
      state = {
        weight: limits.weight ?? 1,
        requests: rpm === undefined ? undefined : new TokenBucket(rpm, now),
        tokens: tpm === undefined ? undefined : new TokenBucket(tpm, now),
      };
      this.states.set(tenant, state);
    }
    return state;
  }
}
