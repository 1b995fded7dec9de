// Errors of the command line that are neither bad flags (ConfigError) nor answers of a gateway:
// a gateway or broker that cannot be reached, and an id the broker does not hold. Each has a
// stable code, printed after the message, and its own exit code for scripts.
import { LocalError } from '../protocol/index.js';

/** The gateway or broker did not answer; the message names the URL and what to check. */
export class UnreachableError extends LocalError {
  override name = 'UnreachableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('unreachable', message, options);
  }
}

/** The thing named on the command line (a dead letter id) is not there. */
export class MissingError extends LocalError {
  override name = 'MissingError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_found', message, options);
  }
}

/** Exit codes: 0 done, 1 unexpected failure, 2 a typed error (bad flag, refused request,
 * unknown id), 3 a gateway or broker that cannot be reached (worth retrying later). */
export const EXIT = { ok: 0, failure: 1, error: 2, unreachable: 3 } as const;

export function exitCodeOf(err: LocalError | { code: string }): number {
  return err.code === 'unreachable' ? EXIT.unreachable : EXIT.error;
}
