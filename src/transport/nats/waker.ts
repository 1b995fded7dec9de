// Wakes receives that wait for work: on a nudge from an enqueuer (a core message on the queue's
// wake subject), on a local settle, or at a time this process knows a message comes back (a
// nack's delay, a delayed message falling due). Other processes' retries are found by polling.
import { MinHeap } from '../heap.js';

export class Waker {
  private waiters = new Set<() => void>();
  private readonly times = new MinHeap<number>((t) => t);
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;

  get waiting(): boolean {
    return this.waiters.size > 0;
  }

  /** Wakes every waiting receive now. */
  wake(): void {
    const waiters = this.waiters;
    if (waiters.size === 0) return;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  /** Wakes waiting receives at `at` (ms epoch). */
  at(at: number): void {
    if (this.closed) return;
    this.times.push(at);
    this.arm();
  }

  /** Resolves true when woken, false after `ms` or on abort. */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || signal?.aborted === true) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timeout);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(onWake);
        resolve(woken);
      };
      const onWake = () => done(true);
      const onAbort = () => done(false);
      const timeout = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(onWake);
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.wake();
  }

  private arm(): void {
    const next = this.times.peek();
    if (next === undefined || next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => this.fire(), Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let due = false;
    for (let t = this.times.peek(); t !== undefined && t <= now; t = this.times.peek()) {
      this.times.pop();
      due = true;
    }
    if (due) this.wake();
    this.arm();
  }
}
