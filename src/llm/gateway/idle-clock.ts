// The idle clock of one attempt to stream from a worker. It measures the worker, not the reader:
// it runs only while the next batch of deltas is awaited, and stops while the client takes its
// time with one. One timer per attempt, re-armed for the rest of the idle time when it fires,
// not one per delta (a timer per token costs more than the token).
export class IdleClock {
  private awaiting = true;
  private lastSeen = performance.now();
  private timer: NodeJS.Timeout;

  /** Calls `onIdle` once the worker has been awaited for `idleMs` with nothing arriving. */
  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = this.arm(idleMs);
  }

  /** A batch arrived: the clock stops while the reader takes it. */
  pause(): void {
    this.awaiting = false;
  }

  /** The reader wants more: the clock runs again from now. */
  resume(): void {
    this.lastSeen = performance.now();
    this.awaiting = true;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.fire(), ms);
    timer.unref();
    return timer;
  }

  private fire(): void {
    const quiet = this.awaiting ? performance.now() - this.lastSeen : 0;
    if (quiet < this.idleMs) this.timer = this.arm(this.idleMs - quiet);
    else this.onIdle();
  }
}
