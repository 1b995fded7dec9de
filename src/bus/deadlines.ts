// Deadlines for many in-flight requests on one timer. Entries are bucketed by time (a coarse
// timing wheel): adding and cancelling are O(1), nothing lingers after a cancel, and only the
// earliest bucket holds a timer.
import { MinHeap } from '../transport/heap.js';

const BUCKET_MS = 5;

export interface DeadlineHandle {
  bucket: Set<DeadlineHandle> | undefined;
  fire(): void;
}

export class DeadlineTimer {
  private readonly buckets = new Map<number, Set<DeadlineHandle>>();
  private readonly times = new MinHeap<number>((t) => t);
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /** Calls `fire` at or just after `at` (ms epoch) unless cancelled first. */
  add(at: number, fire: () => void): DeadlineHandle {
    const handle: DeadlineHandle = { bucket: undefined, fire };
    this.addHandle(at, handle);
    return handle;
  }

  /** Schedules a ready-made handle (an object that is its own callback). */
  addHandle(at: number, handle: DeadlineHandle): void {
    const slot = Math.ceil(at / BUCKET_MS) * BUCKET_MS;
    let bucket = this.buckets.get(slot);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(slot, bucket);
      this.times.push(slot);
      if (slot < this.timerAt) this.arm(slot);
    }
    handle.bucket = bucket;
    bucket.add(handle);
  }

  cancel(handle: DeadlineHandle): void {
    handle.bucket?.delete(handle);
    handle.bucket = undefined;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.run(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private run(): void {
    this.timerAt = Infinity;
    const now = Date.now();
    for (let slot = this.times.peek(); slot !== undefined; slot = this.times.peek()) {
      const bucket = this.buckets.get(slot);
      if (bucket !== undefined && bucket.size > 0 && slot > now) {
        this.arm(slot);
        return;
      }
      this.times.pop();
      this.buckets.delete(slot);
      if (bucket === undefined) continue;
      for (const handle of bucket) {
        handle.bucket = undefined;
        handle.fire();
      }
    }
  }
}
