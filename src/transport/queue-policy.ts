// Shared queue policy: defaults, backoff and expiry timing, so every transport computes retries
// the same way. Argument checks live in queue-contract.ts.
import { ConfigError, createEnvelope, type Envelope } from '../protocol/index.js';
import { checkQueueOptions } from './queue-contract.js';
import type { BackoffOptions, Clock, QueueOptions, ResolvedQueueOptions } from './transport.js';

/** Wall-clock time: the default clock of a queue. */
export const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 200,
  maxMs: 60_000,
  multiplier: 2,
  jitter: 0.2,
};

export const QUEUE_NAME_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** A queue's options with every default filled in; throws ConfigError naming each bad field. */
export function resolveQueueOptions(
  name: string,
  options: QueueOptions = {},
): ResolvedQueueOptions {
  if (!QUEUE_NAME_RE.test(name)) {
    throw new ConfigError(
      `queue name '${name}' must be 1-128 characters of letters, digits, '_' or '-'`,
    );
  }
  checkQueueOptions(options);
  return {
    leaseMs: options.leaseMs ?? 30_000,
    maxAttempts: options.maxAttempts ?? 5,
    dedupWindowMs: options.dedupWindowMs ?? 120_000,
    maxDepth: options.maxDepth ?? Number.POSITIVE_INFINITY,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    clock: options.clock ?? SYSTEM_CLOCK,
  };
}

/** Delay before delivery number `attempt + 1`, after `attempt` failed deliveries. */
export function backoffDelay(
  attempt: number,
  backoff: BackoffOptions,
  random = Math.random,
): number {
  const base = Math.min(
    backoff.maxMs,
    backoff.initialMs * backoff.multiplier ** Math.max(0, attempt - 1),
  );
  const spread = base * backoff.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}

/** When a message expires: the sooner of its deadline and enqueue time + ttl (or never). */
export function expiryOf(
  deadline: number | undefined,
  now: number,
  ttlMs: number | undefined,
): number {
  const byTtl = ttlMs === undefined ? Number.POSITIVE_INFINITY : now + ttlMs;
  return Math.min(deadline ?? Number.POSITIVE_INFINITY, byTtl);
}

/**
 * The `error` envelope a transport delivers to a request's `replyTo` when nothing took the
 * request (the no-responders rule of transport.ts), or undefined when none is due.
 */
export function noRespondersReply(env: Envelope): Envelope | undefined {
  if (env.replyTo === undefined || env.kind === 'error') return undefined;
  return createEnvelope({
    kind: 'error',
    subject: env.replyTo,
    corr: env.id,
    body: { code: 'no_responders', message: `no responders on '${env.subject}'`, retryable: true },
  });
}
