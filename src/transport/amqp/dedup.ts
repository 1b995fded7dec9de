// Message ids seen within a time window, oldest first, for the adapter's dedup: RabbitMQ keeps
// no record of message ids, so the window lives in the process (see index.ts for its limits).
export class DedupWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    /** A bound on memory whatever the rate: past it the oldest ids are forgotten early. */
    private readonly maxEntries = 1_000_000,
  ) {}

  has(id: string): boolean {
    this.prune(Date.now());
    return this.seen.has(id);
  }

  add(id: string): void {
    const now = Date.now();
    this.seen.delete(id); // keeps the map in time order
    this.seen.set(id, now);
    this.prune(now);
  }

  delete(id: string): void {
    this.seen.delete(id);
  }

  private prune(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at <= this.windowMs && this.seen.size <= this.maxEntries) return;
      this.seen.delete(id);
    }
  }
}
