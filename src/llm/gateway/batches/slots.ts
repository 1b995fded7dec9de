// The share of a model's worker slots batch requests may hold at once, on this gateway. Batch
// requests also go through admission at the lowest priority, so a live request waiting for a
// slot always gets the next one free; this bound keeps the rest of the slots free for live
// traffic in the first place, so a live request does not wait for a batch request to finish.

export class BatchSlots {
  private readonly inflight = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  constructor(
    /** Slots of a model across its ready workers (admission's capacity). */
    private readonly capacity: (model: string) => number,
    /** Fraction of them batch requests may hold: 0 < share <= 1. */
    private readonly share: number,
  ) {}

  /** Most batch requests for `model` at once: the share of its slots, at least one. */
  limit(model: string): number {
    return Math.max(1, Math.floor(this.capacity(model) * this.share));
  }

  /** Waits for a slot; resolves with its release. Rejects with the signal's reason. */
  async acquire(model: string, signal: AbortSignal): Promise<() => void> {
    while ((this.inflight.get(model) ?? 0) >= this.limit(model)) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        // Capacity grows when workers join, which no release announces: look again soon.
        const timer = setTimeout(wake, 250);
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    signal.throwIfAborted();
    this.inflight.set(model, (this.inflight.get(model) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight.set(model, (this.inflight.get(model) ?? 1) - 1);
      for (const wake of [...this.waiters]) wake();
    };
  }
}
