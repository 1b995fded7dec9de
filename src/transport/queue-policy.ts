// Shared queue policy: defaults, option checks and backoff timing, so every transport computes
// retries the same way.
import {
  ConfigError,
  createEnvelope,
  InvalidMessageError,
  type Envelope,
} from '../protocol/index.js';
import type {
  BackoffOptions,
  EnqueueOptions,
  QueueOptions,
  ResolvedQueueOptions,
} from './transport.js';

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 200,
  maxMs: 60_000,
  multiplier: 2,
  jitter: 0.2,
};

export const QUEUE_NAME_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function resolveQueueOptions(
  name: string,
  options: QueueOptions = {},
): ResolvedQueueOptions {
  if (!QUEUE_NAME_RE.test(name)) {
    throw new ConfigError(
      `queue name '${name}' must be 1-128 characters of letters, digits, '_' or '-'`,
    );
  }
  const resolved: ResolvedQueueOptions = {
    leaseMs: options.leaseMs ?? 30_000,
    maxAttempts: options.maxAttempts ?? 5,
    dedupWindowMs: options.dedupWindowMs ?? 120_000,
    maxDepth: options.maxDepth ?? Number.POSITIVE_INFINITY,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
  };
  positive('leaseMs', resolved.leaseMs);
  positive('maxAttempts', resolved.maxAttempts);
  nonNegative('dedupWindowMs', resolved.dedupWindowMs);
  positive('maxDepth', resolved.maxDepth);
  nonNegative('backoff.initialMs', resolved.backoff.initialMs);
  nonNegative('backoff.maxMs', resolved.backoff.maxMs);
  if (!(resolved.backoff.multiplier >= 1)) throw new ConfigError('backoff.multiplier must be >= 1');
  if (!(resolved.backoff.jitter >= 0 && resolved.backoff.jitter <= 1)) {
    throw new ConfigError('backoff.jitter must be between 0 and 1');
  }
  return resolved;
}

function positive(field: string, value: number): void {
  if (!(value > 0)) throw new ConfigError(`queue option ${field} must be a positive number`);
}
function nonNegative(field: string, value: number): void {
  if (!(value >= 0)) throw new ConfigError(`queue option ${field} must be zero or more`);
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

/** Checks what the codec does not: fields a durable queue itself relies on. */
export function checkQueued(env: Envelope, opts: EnqueueOptions): void {
  if (typeof env.id !== 'string' || env.id.length === 0) {
    throw new InvalidMessageError('queued message has no id');
  }
  if (env.prio !== undefined && !(Number.isInteger(env.prio) && env.prio >= 0 && env.prio <= 9)) {
    throw new InvalidMessageError(`priority must be an integer 0..9, got ${String(env.prio)}`);
  }
  for (const field of ['delayMs', 'ttlMs'] as const) {
    const v = opts[field];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new InvalidMessageError(`enqueue option ${field} must be a number >= 0`);
    }
  }
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
