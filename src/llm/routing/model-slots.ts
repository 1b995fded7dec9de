// One model's side of admission: the slots its workers offer and this gateway's share of them,
// the requests holding them, the queue waiting for them, what each tenant wants of them, and the
// observed service time from which waits are predicted.
import { OverloadedError } from '../../protocol/index.js';
import { PriorityFairQueue, type FairItem } from './fair-queue.js';

const SERVICE_EWMA_WEIGHT = 0.2;

export class ModelSlots<T extends FairItem> {
  readonly queue: PriorityFairQueue<T>;
  /** Slots of the ready workers serving the model (from their heartbeats). */
  capacity = 0;
  /** The slots this gateway may hold: all of `capacity` unless other gateways want the model. */
  share = 0;
  inflight = 0;
  /** Requests inflight or queued here, by tenant. */
  readonly wants = new Map<string, number>();
  /** The sum of `wants`. */
  totalWant = 0;
  /** `totalWant` when this gateway last reported it in a heartbeat. */
  reportedWant = 0;
  /** Smoothed grant-to-release time; the prior until `observed` > 0. */
  private serviceMs: number;
  private observed = 0;

  constructor(
    readonly name: string,
    readonly maxQueueLength: number,
    readonly maxQueueWaitMs: number,
    priorServiceMs: number,
    agingMs: number | undefined,
  ) {
    this.queue = new PriorityFairQueue<T>(agingMs);
    this.serviceMs = priorServiceMs;
  }

  get hasFreeSlot(): boolean {
    return this.inflight < this.share;
  }

  /** A measured service time, and slots to divide it by: enough to predict a wait. */
  get canPredict(): boolean {
    return this.observed > 0 && this.share > 0;
  }

  /** Counts a request of `tenant` in (+1) or out (-1) of what this gateway wants. */
  want(tenant: string, delta: 1 | -1): void {
    const n = (this.wants.get(tenant) ?? 0) + delta;
    if (n > 0) this.wants.set(tenant, n);
    else this.wants.delete(tenant);
    this.totalWant = Math.max(0, this.totalWant + delta);
  }

  /** The want moved far from the last reported one: from or to none, or by half or double. */
  get wantMoved(): boolean {
    const now = this.totalWant;
    const then = this.reportedWant;
    return (now === 0) !== (then === 0) || now > 2 * then || now * 2 < then;
  }

  get measuredServiceMs(): number | undefined {
    return this.observed > 0 ? this.serviceMs : undefined;
  }

  observe(serviceMs: number): void {
    this.serviceMs =
      this.observed === 0
        ? serviceMs
        : this.serviceMs + SERVICE_EWMA_WEIGHT * (serviceMs - this.serviceMs);
    this.observed++;
  }

  /**
   * Expected wait of a newcomer with `ahead` requests queued before it while every slot is
   * busy: it needs `ahead + 1` slots to free (more if the share shrank below the load), and
   * slots free at `share / serviceMs` per ms (Little's law for a saturated server).
   */
  estimateWaitMs(ahead: number): number {
    const departures = ahead + this.inflight - this.share + 1;
    return (departures * this.serviceMs) / Math.max(1, this.share);
  }

  /** Expected time between two slots freeing up. */
  departureMs(): number {
    return Math.max(1, Math.ceil(this.serviceMs / Math.max(1, this.share)));
  }

  /** A retry hint: at least one departure, or long enough for the excess wait to drain. */
  retryAfterMs(excessMs: number): number {
    return Math.max(this.departureMs(), Math.ceil(excessMs));
  }

  /**
   * Throws OverloadedError (with `details.reason` and `retryAfterMs`) when a newcomer with
   * `ahead` requests queued before it should not wait: the queue is full, its predicted wait is
   * over the queue's limit, or it would end past `deadline`.
   */
  refuseIfOverloaded(ahead: number, deadline: number | undefined, now: number): void {
    // The queue is only non-empty while every slot is taken, so a free slot means no wait.
    if (this.hasFreeSlot) return;
    if (this.queue.size >= this.maxQueueLength) {
      throw new OverloadedError(`too many requests waiting for model '${this.name}'`, {
        details: { reason: 'queue_full', retryAfterMs: this.departureMs() },
      });
    }
    // Until a service time is measured, only the actual wait is bounded (by the expiry).
    if (!this.canPredict) return;
    const waitMs = this.estimateWaitMs(ahead);
    if (waitMs > this.maxQueueWaitMs) {
      throw new OverloadedError(`model '${this.name}' is overloaded`, {
        details: {
          reason: 'queue_wait',
          estimatedWaitMs: Math.ceil(waitMs),
          retryAfterMs: this.retryAfterMs(waitMs - this.maxQueueWaitMs),
        },
      });
    }
    // A deadline the queue cannot meet is shed now as overload rather than as
    // deadline_exceeded: the deadline has not passed, the cause is load, and a retry once the
    // queue drains (or with more time) can succeed, which is what 429 with a retry hint says.
    if (deadline !== undefined && now + waitMs > deadline) {
      throw new OverloadedError(`model '${this.name}' cannot answer before the deadline`, {
        details: {
          reason: 'deadline_unmeetable',
          estimatedWaitMs: Math.ceil(waitMs),
          retryAfterMs: this.retryAfterMs(now + waitMs - deadline),
        },
      });
    }
  }
}
