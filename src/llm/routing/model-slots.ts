// One model's side of admission: the slots its workers offer, the requests holding them, the
// queue waiting for them, and the observed service time from which waits are predicted.
import { PriorityFairQueue, type FairItem } from './fair-queue.js';

const SERVICE_EWMA_WEIGHT = 0.2;

export class ModelSlots<T extends FairItem> {
  readonly queue: PriorityFairQueue<T>;
  capacity = 0;
  inflight = 0;
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
    return this.inflight < this.capacity;
  }

  /** A measured service time, and capacity to divide it by: enough to predict a wait. */
  get canPredict(): boolean {
    return this.observed > 0 && this.capacity > 0;
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
   * busy: it needs `ahead + 1` slots to free (more if capacity shrank below the load), and
   * slots free at `capacity / serviceMs` per ms (Little's law for a saturated server).
   */
  estimateWaitMs(ahead: number): number {
    const departures = ahead + this.inflight - this.capacity + 1;
    return (departures * this.serviceMs) / Math.max(1, this.capacity);
  }

  /** Expected time between two slots freeing up. */
  departureMs(): number {
    return Math.max(1, Math.ceil(this.serviceMs / Math.max(1, this.capacity)));
  }

  /** A retry hint: at least one departure, or long enough for the excess wait to drain. */
  retryAfterMs(excessMs: number): number {
    return Math.max(this.departureMs(), Math.ceil(excessMs));
  }
}
