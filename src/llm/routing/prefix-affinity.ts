// Prefix-cache affinity: send a request to the worker that already holds the longest part of
// its prompt prefix in cache, so prefill skips those blocks (vLLM automatic prefix caching,
// SGLang RadixAttention), unless that worker is clearly busier than the least-loaded one.
import { Type } from '@sinclair/typebox';
import { optionsCheck } from '../../protocol/index.js';
import { utilization } from './load.js';
import { LeastOutstandingPolicy } from './least-outstanding.js';
import type { RouteContext, RoutingPolicy, WorkerView } from './policy.js';

export interface PrefixAffinityOptions {
  /**
   * How much busier (in-flight per slot) than the least-loaded candidate a worker may be and
   * still win on its cache. Default 0.25: a quarter of its slots.
   */
  maxImbalance?: number;
  /** How long a placement is remembered before heartbeats are trusted to show it. Default 3000. */
  rememberMs?: number;
  /** Most placements remembered at once; the oldest go first. Default 1024. */
  maxRemembered?: number;
  /** Clock in ms, injectable for tests. Default Date.now. */
  now?: () => number;
}

interface Placement {
  readonly workerId: string;
  readonly hashes: readonly string[];
  readonly expiresAt: number;
}

/** Leading blocks of `hashes` all found in `cached`. */
export function cachedPrefixLength(hashes: readonly string[], cached: ReadonlySet<string>): number {
  let n = 0;
  while (n < hashes.length && cached.has(hashes[n]!)) n++;
  return n;
}

/** Length of the common prefix of two chained hash lists. */
function sharedPrefixLength(a: readonly string[], b: readonly string[]): number {
  const max = Math.min(a.length, b.length);
  let n = 0;
  while (n < max && a[n] === b[n]) n++;
  return n;
}

const checkOptions = optionsCheck(
  "routing policy 'prefix-affinity'",
  Type.Object(
    {
      maxImbalance: Type.Optional(Type.Number({ minimum: 0 })),
      rememberMs: Type.Optional(Type.Number({ minimum: 0 })),
      maxRemembered: Type.Optional(Type.Integer({ minimum: 0 })),
      now: Type.Optional(Type.Function([], Type.Number())),
    },
    { additionalProperties: false },
  ),
);

/**
 * The load bound is `load <= min load + maxImbalance` rather than `(1+epsilon) * mean`: the
 * question for a cache hit is whether a clearly idler worker exists, and a mean-based bound
 * lets a hot prefix pile onto one worker while another sits idle whenever the rest are busy.
 * SGLang's cache-aware router uses the same absolute-gap test (balance_abs_threshold); here the
 * gap is per slot, so workers of different sizes compare fairly.
 */
export class PrefixAffinityPolicy implements RoutingPolicy {
  readonly name = 'prefix-affinity';
  readonly maxImbalance: number;
  private readonly rememberMs: number;
  private readonly maxRemembered: number;
  private readonly now: () => number;
  private readonly fallback = new LeastOutstandingPolicy();
  /**
   * First-block hash -> the worker last sent that prefix. Heartbeats report a worker's cache a
   * beat late, so without this a burst sharing a new prefix would scatter before any worker
   * reports holding it. Kept in insertion order, which is expiry order.
   */
  private readonly recent = new Map<string, Placement>();

  constructor(options: PrefixAffinityOptions = {}) {
    const o = checkOptions(options);
    this.maxImbalance = o.maxImbalance ?? 0.25;
    this.rememberMs = o.rememberMs ?? 3000;
    this.maxRemembered = o.maxRemembered ?? 1024;
    this.now = o.now ?? Date.now;
  }

  pick(candidates: readonly WorkerView[], ctx: RouteContext): WorkerView | undefined {
    const hashes = ctx.prefixHashes;
    const first = hashes[0];
    if (first === undefined) return this.fallback.pick(candidates);
    const now = this.now();
    this.forgetExpired(now);
    const placed = this.recent.get(first);
    const placedLength = placed === undefined ? 0 : sharedPrefixLength(hashes, placed.hashes);

    let minLoad = Number.POSITIVE_INFINITY;
    for (const w of candidates) minLoad = Math.min(minLoad, utilization(w));
    // A small tolerance so that, e.g., 0.1 + 0.2 still admits a load of 0.3.
    const limit = minLoad + this.maxImbalance + 1e-9;

    let best: WorkerView | undefined;
    let bestLength = 0;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const w of candidates) {
      const load = utilization(w);
      if (load > limit) continue;
      let length = cachedPrefixLength(hashes, w.prefixHashes);
      if (placed?.workerId === w.id) length = Math.max(length, placedLength);
      if (length > bestLength || (length === bestLength && length > 0 && load < bestLoad)) {
        best = w;
        bestLength = length;
        bestLoad = load;
      }
    }
    const chosen = best ?? this.fallback.pick(candidates);
    if (chosen !== undefined) this.remember(first, chosen.id, hashes, now);
    return chosen;
  }

  private remember(first: string, workerId: string, hashes: readonly string[], now: number): void {
    if (this.maxRemembered === 0 || this.rememberMs === 0) return;
    this.recent.delete(first); // re-inserted at the end: newest last
    this.recent.set(first, { workerId, hashes, expiresAt: now + this.rememberMs });
    while (this.recent.size > this.maxRemembered) {
      const oldest = this.recent.keys().next();
      if (oldest.done === true) break;
      this.recent.delete(oldest.value);
    }
  }

  private forgetExpired(now: number): void {
    for (const [key, placement] of this.recent) {
      if (placement.expiresAt > now) break;
      this.recent.delete(key);
    }
  }
}
