// The one timer admission keeps: queued requests by the time they expire (their deadline, or
// the queue's longest wait), armed for the earliest. Requests that left the queue another way
// stay in the heap, marked done, and are skipped when they reach its top.
import { MinHeap } from '../../transport/heap.js';

/** Time source and the one timer admission keeps (for the earliest queue expiry). */
export interface AdmissionClock {
  now(): number;
  /** Calls `fire` after `delayMs`; returns a function that cancels it. */
  setTimer(delayMs: number, fire: () => void): () => void;
}

export const realClock: AdmissionClock = {
  now: () => Date.now(),
  setTimer(delayMs, fire) {
    const timer = setTimeout(fire, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface Expiring {
  /** ms epoch after which the item may no longer wait. */
  readonly expiresAt: number;
  /** Out of the queue (granted, failed or cancelled): its expiry no longer matters. */
  readonly done: boolean;
}

export class QueueExpiry<T extends Expiring> {
  private readonly heap = new MinHeap<T>((item) => item.expiresAt);
  private cancelTimer: (() => void) | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  /** `onExpired` takes each item out whose time has come (it must mark it done). */
  constructor(
    private readonly clock: AdmissionClock,
    private readonly onExpired: (item: T, now: number) => void,
  ) {}

  add(item: T): void {
    this.heap.push(item);
    this.arm();
  }

  /** Hands every item expired by `now` and not yet done to `onExpired`. */
  expire(now: number): void {
    for (let item = this.heap.peek(); item !== undefined; item = this.heap.peek()) {
      if (item.expiresAt > now) break;
      this.heap.pop();
      if (!item.done) this.onExpired(item, now);
    }
  }

  /** Cancels the timer for good; items still held never expire. */
  stop(): void {
    this.stopped = true;
    this.arm();
  }

  /** Keeps one timer, for the earliest expiry among the items not yet done. */
  private arm(): void {
    let head = this.heap.peek();
    while (head !== undefined && head.done) {
      this.heap.pop();
      head = this.heap.peek();
    }
    if (head === undefined || this.stopped) {
      this.cancelTimer?.();
      this.cancelTimer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timerAt <= head.expiresAt) return;
    this.cancelTimer?.();
    this.timerAt = head.expiresAt;
    this.cancelTimer = this.clock.setTimer(Math.max(0, head.expiresAt - this.clock.now()), () => {
      this.cancelTimer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.expire(this.clock.now());
      this.arm();
    });
  }
}
