// The durable-queue contract every transport's queue passes through: one table of bad arguments
// and the answer each gets, the checks that give those answers, and what a dead letter carries.
// Adapters wrap their queue with `contractQueue`, so the same input gets the same answer on every
// transport (test/conformance/queue-arguments.ts runs the table against each one).
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  InvalidMessageError,
  optionsCheck,
  type Envelope,
  type WireErrorBody,
} from '../protocol/index.js';
import type {
  DeadLetter,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  NackOptions,
  ReceiveOptions,
} from './transport.js';

/** The answer the contract gives one call: a typed error with its code, or acceptance. */
export type ContractAnswer =
  { readonly error: 'config_invalid' | 'invalid_message' } | { readonly accepts: true };

/** One call on a queue (or on a delivery it handed out) with the argument under test. */
export type ContractCall =
  | { readonly method: 'queue'; readonly name?: string; readonly options?: unknown }
  | {
      readonly method: 'enqueue';
      /** Envelope fields set on an otherwise valid message. */
      readonly envelope?: Record<string, unknown>;
      readonly options?: unknown;
    }
  | { readonly method: 'receive'; readonly options: unknown }
  | { readonly method: 'nack'; readonly options: unknown }
  | { readonly method: 'extend'; readonly ms: unknown }
  | { readonly method: 'reject'; readonly error: unknown }
  | { readonly method: 'deadLetters'; readonly options: unknown }
  | { readonly method: 'replayDeadLetters' | 'purgeDeadLetters'; readonly ids: unknown };

export interface ContractRow {
  readonly call: ContractCall;
  readonly answer: ContractAnswer;
  /** Why this answer, where it is a choice. */
  readonly why?: string;
}

const CONFIG = { error: 'config_invalid' } as const;
const INVALID = { error: 'invalid_message' } as const;
const ACCEPTS = { accepts: true } as const;
const GOOD_ERROR = { code: 'upstream_error', message: 'failed', retryable: true };

/**
 * Every bad argument and the answer it gets, on every transport. The rule behind the table:
 * a field of the message itself (`prio`, `id`) that is wrong is `invalid_message`, the answer a
 * peer sending that message over the wire would get too; a wrong argument of a call (options,
 * counts, durations) is a local `config_invalid`. Neither is ever a retryable error: trying
 * again with the same input cannot help.
 */
export const QUEUE_ARGUMENT_TABLE: readonly ContractRow[] = [
  // Queue options (checked when the queue is opened).
  { call: { method: 'queue', name: 'has space' }, answer: CONFIG },
  { call: { method: 'queue', name: '' }, answer: CONFIG },
  { call: { method: 'queue', options: { leaseMs: 0 } }, answer: CONFIG },
  { call: { method: 'queue', options: { leaseMs: -1 } }, answer: CONFIG },
  { call: { method: 'queue', options: { leaseMs: Number.NaN } }, answer: CONFIG },
  { call: { method: 'queue', options: { maxAttempts: 0 } }, answer: CONFIG },
  { call: { method: 'queue', options: { maxAttempts: 1.5 } }, answer: CONFIG },
  { call: { method: 'queue', options: { dedupWindowMs: -1 } }, answer: CONFIG },
  {
    call: { method: 'queue', options: { dedupWindowMs: 50 } },
    answer: CONFIG,
    why: 'JetStream keeps no window under 100 ms; one answer everywhere rather than a silent 100',
  },
  { call: { method: 'queue', options: { maxDepth: 0 } }, answer: CONFIG },
  { call: { method: 'queue', options: { maxDepth: 2.5 } }, answer: CONFIG },
  { call: { method: 'queue', options: { backoff: { initialMs: -1 } } }, answer: CONFIG },
  { call: { method: 'queue', options: { backoff: { multiplier: 0.5 } } }, answer: CONFIG },
  { call: { method: 'queue', options: { backoff: { jitter: 2 } } }, answer: CONFIG },
  {
    call: { method: 'queue', options: { leasems: 100 } },
    answer: CONFIG,
    why: 'an unknown option is most often a misspelt one; ignoring it would hide the mistake',
  },
  { call: { method: 'queue', options: { clock: {} } }, answer: CONFIG },
  {
    call: { method: 'queue', options: { leaseMs: 1, maxAttempts: 1, dedupWindowMs: 0 } },
    answer: ACCEPTS,
  },
  {
    call: { method: 'queue', options: { dedupWindowMs: 100 } },
    answer: ACCEPTS,
  },
  { call: { method: 'queue', options: { maxDepth: Number.POSITIVE_INFINITY } }, answer: ACCEPTS },

  // enqueue: the message's priority, and the call's options.
  { call: { method: 'enqueue', envelope: { prio: 10 } }, answer: INVALID },
  { call: { method: 'enqueue', envelope: { prio: -1 } }, answer: INVALID },
  { call: { method: 'enqueue', envelope: { prio: 1.5 } }, answer: INVALID },
  { call: { method: 'enqueue', envelope: { prio: 0 } }, answer: ACCEPTS },
  { call: { method: 'enqueue', envelope: { prio: 9 } }, answer: ACCEPTS },
  { call: { method: 'enqueue', envelope: { id: '' } }, answer: INVALID },
  { call: { method: 'enqueue', options: { ttlMs: -1 } }, answer: CONFIG },
  {
    call: { method: 'enqueue', options: { ttlMs: 0 } },
    answer: CONFIG,
    why: 'a message that expires as it is stored could never be delivered',
  },
  { call: { method: 'enqueue', options: { ttlMs: Number.NaN } }, answer: CONFIG },
  { call: { method: 'enqueue', options: { delayMs: -5 } }, answer: CONFIG },
  { call: { method: 'enqueue', options: { delayMs: Number.POSITIVE_INFINITY } }, answer: CONFIG },
  { call: { method: 'enqueue', options: { delay: 5 } }, answer: CONFIG },
  { call: { method: 'enqueue', options: { delayMs: 0, ttlMs: 60_000 } }, answer: ACCEPTS },

  // receive
  {
    call: { method: 'receive', options: { max: 0, waitMs: 0 } },
    answer: CONFIG,
    why:
      'asking for nothing is a caller bug (a batch size computed as 0); answering [] at once ' +
      'would turn a waiting loop into a busy one, and waiting would deliver nothing',
  },
  { call: { method: 'receive', options: { max: -1, waitMs: 0 } }, answer: CONFIG },
  { call: { method: 'receive', options: { max: 1.5, waitMs: 0 } }, answer: CONFIG },
  { call: { method: 'receive', options: { max: Number.NaN, waitMs: 0 } }, answer: CONFIG },
  {
    call: { method: 'receive', options: { max: Number.POSITIVE_INFINITY, waitMs: 0 } },
    answer: CONFIG,
  },
  { call: { method: 'receive', options: { max: 1, waitMs: -1 } }, answer: CONFIG },
  { call: { method: 'receive', options: { max: 1, waitMs: Number.NaN } }, answer: CONFIG },
  { call: { method: 'receive', options: { max: 1 } }, answer: CONFIG },
  { call: { method: 'receive', options: { max: 1, waitMs: 0 } }, answer: ACCEPTS },

  // A delivery's nack, extend and reject.
  { call: { method: 'nack', options: { delayMs: -1 } }, answer: CONFIG },
  { call: { method: 'nack', options: { delayMs: Number.NaN } }, answer: CONFIG },
  { call: { method: 'nack', options: { error: { code: 'upstream_error' } } }, answer: CONFIG },
  { call: { method: 'nack', options: { delayMs: 0, error: GOOD_ERROR } }, answer: ACCEPTS },
  { call: { method: 'extend', ms: 0 }, answer: CONFIG },
  { call: { method: 'extend', ms: -5 }, answer: CONFIG },
  { call: { method: 'extend', ms: Number.NaN }, answer: CONFIG },
  { call: { method: 'extend', ms: 10_000 }, answer: ACCEPTS },
  { call: { method: 'reject', error: undefined }, answer: CONFIG },
  { call: { method: 'reject', error: { message: 'no code' } }, answer: CONFIG },
  { call: { method: 'reject', error: GOOD_ERROR }, answer: ACCEPTS },

  // Dead letters.
  { call: { method: 'deadLetters', options: { limit: 0 } }, answer: CONFIG },
  { call: { method: 'deadLetters', options: { limit: 1.5 } }, answer: CONFIG },
  { call: { method: 'deadLetters', options: { limit: 1 } }, answer: ACCEPTS },
  { call: { method: 'replayDeadLetters', ids: 'abc' }, answer: CONFIG },
  { call: { method: 'replayDeadLetters', ids: [1] }, answer: CONFIG },
  { call: { method: 'replayDeadLetters', ids: [] }, answer: ACCEPTS },
  { call: { method: 'purgeDeadLetters', ids: 'abc' }, answer: CONFIG },
  { call: { method: 'purgeDeadLetters', ids: ['no-such-id'] }, answer: ACCEPTS },
];

const Ms = Type.Number({ minimum: 0 });
const PositiveMs = Type.Number({ exclusiveMinimum: 0 });
const Count = Type.Integer({ minimum: 1 });

export const WireErrorBodySchema = Type.Object({
  code: Type.String({ minLength: 1 }),
  message: Type.String(),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const strict = { additionalProperties: false };

export const QueueOptionsSchema = Type.Object(
  {
    leaseMs: Type.Optional(PositiveMs),
    maxAttempts: Type.Optional(Count),
    // 0 (no window: an id is a duplicate only while its message is held) or at least 100 ms,
    // the shortest window JetStream keeps.
    dedupWindowMs: Type.Optional(Type.Union([Type.Literal(0), Type.Number({ minimum: 100 })])),
    maxDepth: Type.Optional(Type.Union([Count, Type.Literal(Number.POSITIVE_INFINITY)])),
    backoff: Type.Optional(
      Type.Object(
        {
          initialMs: Type.Optional(Ms),
          maxMs: Type.Optional(Ms),
          multiplier: Type.Optional(Type.Number({ minimum: 1 })),
          jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
        },
        strict,
      ),
    ),
    clock: Type.Optional(Type.Object({ now: Type.Function([], Type.Number()) })),
  },
  strict,
);

const EnqueueOptionsSchema = Type.Object(
  { delayMs: Type.Optional(Ms), ttlMs: Type.Optional(PositiveMs) },
  strict,
);
// `signal` is an AbortSignal; only its presence is not checked here.
const ReceiveOptionsSchema = Type.Object({
  max: Count,
  waitMs: Ms,
  signal: Type.Optional(Type.Any()),
});
const NackOptionsSchema = Type.Object(
  { delayMs: Type.Optional(Ms), error: Type.Optional(WireErrorBodySchema) },
  strict,
);
const DeadLetterOptionsSchema = Type.Object({ limit: Type.Optional(Count) }, strict);
const IdsSchema = Type.Union([Type.Undefined(), Type.Array(Type.String())]);

export const checkQueueOptions = optionsCheck('queue options', QueueOptionsSchema);
const checkEnqueueOptions = optionsCheck('enqueue options', EnqueueOptionsSchema);
const checkReceiveOptions = optionsCheck('receive options', ReceiveOptionsSchema);
const checkNackOptions = optionsCheck('nack options', NackOptionsSchema);
const checkExtendMs = optionsCheck('extend ms', PositiveMs);
const checkRejectError = optionsCheck('reject error', WireErrorBodySchema);
const checkDeadLetterOptions = optionsCheck('deadLetters options', DeadLetterOptionsSchema);
const checkIds = optionsCheck('dead-letter ids', IdsSchema);

/** Checks what the codec does not: the fields of a message a durable queue itself relies on. */
export function checkQueuedEnvelope(env: Envelope): void {
  if (typeof env.id !== 'string' || env.id.length === 0) {
    throw new InvalidMessageError('queued message has no id');
  }
  if (env.prio !== undefined && !(Number.isInteger(env.prio) && env.prio >= 0 && env.prio <= 9)) {
    throw new InvalidMessageError(`priority must be an integer 0..9, got ${String(env.prio)}`);
  }
}

/** Checks an enqueue's message and options (the rows of QUEUE_ARGUMENT_TABLE for enqueue). */
export function checkEnqueue(env: Envelope, options: EnqueueOptions | undefined): void {
  checkQueuedEnvelope(env);
  if (options !== undefined) checkEnqueueOptions(options);
}

/**
 * The error a dead letter carries: the last one given to `nack` or `reject`. A nack without an
 * error keeps the one before it; a lease that runs out counts as `worker_lost`.
 */
export function lastError(
  earlier: WireErrorBody | undefined,
  given: WireErrorBody | undefined,
): WireErrorBody | undefined {
  return given ?? earlier;
}

/** The error recorded when a lease runs out before the delivery was settled. */
export const LEASE_EXPIRED: WireErrorBody = {
  code: 'worker_lost',
  message: 'lease expired',
  retryable: true,
};

function guarded<T>(check: () => void, run: () => Promise<T>): Promise<T> {
  try {
    check();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new ConfigError(String(err)));
  }
  return run();
}

/** A delivery whose nack, extend and reject check their arguments first. */
function contractDelivery(d: Delivery): Delivery {
  return {
    envelope: d.envelope,
    attempt: d.attempt,
    get leaseUntil() {
      return d.leaseUntil;
    },
    ack: () => d.ack(),
    nack: (options?: NackOptions) =>
      guarded(
        () => options !== undefined && checkNackOptions(options),
        () => d.nack(options),
      ),
    extend: (ms: number) =>
      guarded(
        () => checkExtendMs(ms),
        () => d.extend(ms),
      ),
    reject: (error: WireErrorBody) =>
      guarded(
        () => checkRejectError(error),
        () => d.reject(error),
      ),
  };
}

/**
 * `queue` with every argument checked by the contract before the adapter sees it, so adapters
 * may assume well-formed input. Errors are returned as rejected promises, as the methods are
 * asynchronous.
 */
export function contractQueue(queue: DurableQueue): DurableQueue {
  return {
    name: queue.name,
    enqueue: (env: Envelope, options?: EnqueueOptions) =>
      guarded(
        () => checkEnqueue(env, options),
        () => queue.enqueue(env, options),
      ),
    receive: (options: ReceiveOptions) =>
      guarded(
        () => checkReceiveOptions(options),
        async () => (await queue.receive(options)).map(contractDelivery),
      ),
    stats: () => queue.stats(),
    deadLetters: (options?: { limit?: number }): Promise<DeadLetter[]> =>
      guarded(
        () => options !== undefined && checkDeadLetterOptions(options),
        () => queue.deadLetters(options),
      ),
    replayDeadLetters: (ids?: string[]) =>
      guarded(
        () => checkIds(ids),
        () => queue.replayDeadLetters(ids),
      ),
    purgeDeadLetters: (ids?: string[]) =>
      guarded(
        () => checkIds(ids),
        () => queue.purgeDeadLetters(ids),
      ),
  };
}
