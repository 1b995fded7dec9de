// A small replaying feed of transport status events: each iterator sees the history so far,
// then new events as they happen, and ends when the feed ends.
import type { TransportStatus } from './transport.js';

export class StatusFeed {
  private readonly history: TransportStatus[] = [];
  private readonly listeners = new Set<() => void>();
  private ended = false;

  push(status: TransportStatus): void {
    if (this.ended) return;
    this.history.push(status);
    if (this.history.length > 256) this.history.splice(0, this.history.length - 256);
    for (const wake of this.listeners) wake();
  }

  end(): void {
    this.ended = true;
    for (const wake of this.listeners) wake();
  }

  get latest(): TransportStatus | undefined {
    return this.history[this.history.length - 1];
  }

  async *iterate(): AsyncGenerator<TransportStatus> {
    let at = 0;
    for (;;) {
      while (at < this.history.length) yield this.history[at++]!;
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.listeners.delete(wake);
          resolve();
        };
        this.listeners.add(wake);
      });
    }
  }
}
