// Session affinity by consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018): a session key goes to its owner on a hash
// ring unless that worker's load exceeds ceil((1+epsilon) * average load); then to the next
// worker clockwise that does not. A worker joining or leaving moves only about 1/n of the keys,
// and however skewed the keys, no worker runs far above (1+epsilon) times its share.
//
// The load is measured before placing the request; the paper counts the incoming request too,
// which at light load moves a session off its owner as soon as the owner holds one request.
// Measured before, a worker may end one request above the bound, and sessions stay put longer.
import { Type } from '@sinclair/typebox';
import { optionsCheck } from '../../protocol/index.js';
import { HashRing } from './hash-ring.js';
import { LeastOutstandingPolicy } from './least-outstanding.js';
import type { RouteContext, RoutingPolicy, WorkerView } from './policy.js';

export interface SessionAffinityOptions {
  /** Load slack over the average before a key spills to the next worker. Default 0.25. */
  epsilon?: number;
  /** Ring points per worker; more points, smoother shares. Default 160 (as ketama). */
  virtualNodes?: number;
}

const checkOptions = optionsCheck(
  "routing policy 'session-affinity'",
  Type.Object(
    {
      epsilon: Type.Optional(Type.Number({ minimum: 0 })),
      virtualNodes: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
);

export class SessionAffinityPolicy implements RoutingPolicy {
  readonly name = 'session-affinity';
  readonly epsilon: number;
  private readonly ring: HashRing;
  private readonly fallback = new LeastOutstandingPolicy();

  constructor(options: SessionAffinityOptions = {}) {
    const o = checkOptions(options);
    this.epsilon = o.epsilon ?? 0.25;
    this.ring = new HashRing(o.virtualNodes ?? 160);
  }

  pick(candidates: readonly WorkerView[], ctx: RouteContext): WorkerView | undefined {
    if (ctx.sessionKey === undefined || candidates.length === 0) {
      return this.fallback.pick(candidates);
    }
    const byId = new Map<string, WorkerView>();
    let inflight = 0;
    let capacity = 0;
    for (const w of candidates) {
      byId.set(w.id, w);
      inflight += w.inflight;
      capacity += Math.max(1, w.capacity);
    }
    this.syncRing(byId);
    for (const id of this.ring.walk(ctx.sessionKey)) {
      const w = byId.get(id);
      if (w === undefined) continue; // on the ring but not a candidate now (busy or gone)
      // The worker's share of the load follows its capacity; for equal workers it is the mean.
      const share = (inflight * Math.max(1, w.capacity)) / capacity;
      // The tolerance keeps float noise (1.25 * 0.8 = 1.0000000000000002) from raising the ceiling.
      if (w.inflight <= Math.ceil((1 + this.epsilon) * share - 1e-9)) return w;
    }
    // Unreachable in theory (the bounds sum to more than the load), kept as a guard.
    return this.fallback.pick(candidates);
  }

  /**
   * The ring holds every candidate and may keep workers that are not candidates right now: the
   * walk skips them, which places keys exactly as a ring without them would, and a worker that
   * was briefly busy keeps its points without a rebuild. Rebuilt when a new worker appears or
   * when more than half the ring is absent workers.
   */
  private syncRing(live: ReadonlyMap<string, WorkerView>): void {
    let missing = false;
    for (const id of live.keys()) {
      if (!this.ring.has(id)) {
        missing = true;
        break;
      }
    }
    const stale = this.ring.size > 2 * live.size;
    if (stale) this.ring.reset(live.keys());
    else if (missing) this.ring.reset(new Set([...this.ring.ids(), ...live.keys()]));
  }
}
