// Turns a callback-driven generation (node-llama-cpp calls onTextChunk, then its promise
// settles) into an async generator that yields the chunks in order and returns the result.

export class ChunkPipe<R> {
  private readonly chunks: string[] = [];
  private end: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
  private wake: (() => void) | undefined;

  push = (chunk: string): void => {
    if (this.end !== undefined || chunk === '') return;
    this.chunks.push(chunk);
    this.notify();
  };

  /** Ends the pipe at once with `error`, whatever the generation does next. */
  fail(error: unknown): void {
    this.end ??= { ok: false, error };
    this.notify();
  }

  /** Ends the pipe with the generation's outcome; chunks already pushed are still read. */
  settle(outcome: Promise<R>): void {
    outcome.then(
      (value) => {
        this.end ??= { ok: true, value };
        this.notify();
      },
      (error: unknown) => {
        this.end ??= { ok: false, error };
        this.notify();
      },
    );
  }

  async *read(): AsyncGenerator<string, R> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        yield chunk;
        continue;
      }
      if (this.end !== undefined) {
        if (this.end.ok) return this.end.value;
        throw this.end.error;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
