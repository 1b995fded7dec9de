// The DurableQueue handle of the sqlite transport (arguments are checked by queue-contract.ts): long-polling receive and
// deliveries, with every storage step handed to the group commit.
import type { Codec } from '../../codec/codec.js';
import {
  ClosedError,
  PROTOCOL_VERSION,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import type {
  DeadLetter,
  DeadLetterReason,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  EnqueueResult,
  NackOptions,
  QueueStats,
  ReceiveOptions,
  ResolvedQueueOptions,
} from '../transport.js';
import type { TxEffects } from './effects.js';
import type { GroupCommit } from './group-commit.js';
import type { DeadRow } from './schema.js';
import type { Statements } from './statements.js';
import { QueueStore, type Lease } from './store.js';

/** What a queue needs from its transport. */
export interface QueueContext {
  readonly commit: GroupCommit;
  readonly effects: TxEffects;
  readonly statements: Statements;
  readonly codec: Codec;
  readonly pollMs: number;
  readonly isClosed: () => boolean;
  /** Registers a wake-up for in-process changes to a queue; returns the unregister function. */
  readonly onChange: (queue: string, wake: () => void) => () => void;
}

const DEFAULT_DEAD_LETTER_LIMIT = 100;

export function createSqliteQueue(
  name: string,
  options: ResolvedQueueOptions,
  ctx: QueueContext,
): DurableQueue {
  const { commit, codec } = ctx;
  const { clock } = options;
  const store = new QueueStore(name, options, ctx.statements, codec, ctx.effects);

  const assertOpen = () => {
    if (ctx.isClosed()) throw new ClosedError(`sqlite queue '${name}'`);
  };

  async function receive(opts: ReceiveOptions): Promise<Delivery[]> {
    assertOpen();
    const max = opts.max;
    // waitMs is how long the caller waits, in real time; the queue's clock decides what is due.
    const until = Date.now() + opts.waitMs;
    for (;;) {
      if (ctx.isClosed()) return [];
      const { leases, nextDue } = await commit.run(() => store.take(max, clock.now()));
      if (leases.length > 0) return leases.map(deliveryOf);
      const left = until - Date.now();
      if (left <= 0 || opts.signal?.aborted === true) return [];
      // Wake on an in-process change, on the next delay or lease end, or to poll for changes
      // made by other processes sharing the file.
      await sleep(Math.min(left, nextDue - clock.now(), ctx.pollMs), name, opts.signal);
    }
  }

  function sleep(ms: number, queue: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      const off = ctx.onChange(queue, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  function deliveryOf(lease: Lease): Delivery {
    let leaseUntil = lease.leaseUntil;
    let settled = false;
    // Once acked, nacked or rejected, this delivery holds nothing: later calls are no-ops
    // without a round trip (the stored row no longer matches the lease anyway).
    const settle = (fn: () => void): Promise<void> => {
      if (ctx.isClosed()) return Promise.reject(new ClosedError(`sqlite queue '${name}'`));
      if (settled) return Promise.resolve();
      settled = true;
      return commit.run(fn).catch((err: unknown) => {
        settled = false; // the store failed; the caller may try again
        throw err;
      });
    };
    return {
      envelope: lease.envelope,
      attempt: lease.attempt,
      get leaseUntil() {
        return leaseUntil;
      },
      ack: () => settle(() => store.ack(lease)),
      nack: (o: NackOptions = {}) => {
        return settle(() => store.nack(lease, o.error, o.delayMs));
      },
      reject: (error: WireErrorBody) => settle(() => store.reject(lease, error)),
      extend: async (ms: number) => {
        assertOpen();
        leaseUntil = await commit.run(() => store.extend(lease, ms));
      },
    };
  }

  return {
    name,
    async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
      assertOpen();
      const frame = codec.encode(env);
      return commit.run(() => store.enqueue(env, frame, opts));
    },
    receive,
    async stats(): Promise<QueueStats> {
      assertOpen();
      return commit.run(() => store.stats(clock.now()));
    },
    async deadLetters(opts: { limit?: number } = {}): Promise<DeadLetter[]> {
      assertOpen();
      const limit = opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT;
      const rows = await commit.run(() => {
        store.maintain(clock.now());
        return ctx.statements.deadList.all(name, limit) as DeadRow[];
      });
      return rows.map((row) => deadLetterOf(row, name, codec));
    },
    async replayDeadLetters(ids?: string[]): Promise<number> {
      assertOpen();
      return commit.run(() => {
        const now = clock.now();
        let n = 0;
        for (const row of deadRows(ctx.statements, name, ids)) {
          if (store.replay(row.id, row.frame, now)) n++;
        }
        return n;
      });
    },
    async purgeDeadLetters(ids?: string[]): Promise<number> {
      assertOpen();
      return commit.run(() => {
        const st = ctx.statements;
        if (ids === undefined) return st.deadPurge.run(name).changes;
        let n = 0;
        for (const id of ids) n += st.deadDelete.run(name, id).changes;
        return n;
      });
    },
  };
}

function deadRows(st: Statements, queue: string, ids: string[] | undefined): DeadRow[] {
  if (ids === undefined) return st.deadAll.all(queue) as DeadRow[];
  const rows: DeadRow[] = [];
  for (const id of ids) {
    const row = st.deadOne.get(queue, id) as DeadRow | undefined;
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

function deadLetterOf(row: DeadRow, queue: string, codec: Codec): DeadLetter {
  let envelope: Envelope;
  try {
    envelope = codec.decode(row.frame);
  } catch {
    // Unreadable with this codec: show what the table knows so it can still be purged.
    envelope = {
      v: PROTOCOL_VERSION,
      id: row.id,
      kind: 'unknown',
      subject: queue,
      ts: row.dead_at,
    };
  }
  const letter: DeadLetter = {
    envelope,
    reason: row.reason as DeadLetterReason,
    attempts: row.attempts,
    deadAt: row.dead_at,
  };
  if (row.error !== null) return { ...letter, error: JSON.parse(row.error) as WireErrorBody };
  return letter;
}
