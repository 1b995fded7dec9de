// Cancellation helpers shared by the backends: every model call stops when its AbortSignal
// fires, and the error it ends with says why (the client cancelled, or the deadline passed).
import { CancelledError, DeadlineExceededError, type WireError } from '../../protocol/index.js';

/** The typed error for an aborted signal: its reason when that is already one, else `cancelled`. */
export function abortError(signal: AbortSignal): WireError {
  const reason: unknown = signal.reason;
  if (reason instanceof DeadlineExceededError || reason instanceof CancelledError) return reason;
  return new CancelledError('request cancelled', { cause: reason });
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/** Resolves after `ms`; rejects with abortError(signal) the moment the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  const sleeps = new CallSleeps(signal);
  return sleeps.sleep(ms).finally(() => sleeps.dispose());
}

/**
 * The sleeps of one model call, one after another, each cut short when `signal` fires: one abort
 * listener for the whole call instead of one per sleep (a paced stream sleeps once a token).
 * `dispose()` when the call ends.
 */
export class CallSleeps {
  private timer: NodeJS.Timeout | undefined;
  private reject: ((err: WireError) => void) | undefined;
  private readonly onAbort = () => {
    const reject = this.reject;
    if (reject === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reject = undefined;
    reject(abortError(this.signal));
  };

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Resolves after `ms`; rejects with abortError(signal) the moment the signal fires. */
  sleep(ms: number): Promise<void> {
    if (this.signal.aborted) return Promise.reject(abortError(this.signal));
    return new Promise((resolve, reject) => {
      this.reject = reject;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reject = undefined;
        resolve();
      }, ms);
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

/** Never resolves; rejects with abortError(signal) when the signal fires. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(abortError(signal)), { once: true });
  });
}
