// A counting semaphore for read-ahead: `acquire` waits for a free slot (false when the signal
// fires first), `release` frees one.
export class Slots {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(signal: AbortSignal): Promise<boolean> {
    while (this.#free <= 0) {
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal.aborted) return false;
    this.#free--;
    return true;
  }

  release(): void {
    this.#free++;
    this.#waiters.shift()?.();
  }
}
