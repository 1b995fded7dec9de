// Polling for a condition in tests, with what was awaited in the failure message.

/**
 * Resolves once `check` holds; fails after `timeoutMs` with "timed out … waiting for `what`".
 * `check` is polled every `everyMs` (it may be async: a stats call, a query to a broker).
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
  everyMs = 10,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
