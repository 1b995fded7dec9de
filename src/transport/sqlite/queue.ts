// The DurableQueue of the sqlite transport (queue-contract.ts checks its arguments): long-polling
// receive and deliveries, with every storage step handed to the group commit.
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

/** A durable queue stored in the transport's sqlite file. */
export class SqliteQueue implements DurableQueue {
  private readonly store: QueueStore;

  constructor(
    readonly name: string,
    private readonly options: ResolvedQueueOptions,
    private readonly ctx: QueueContext,
  ) {
    this.store = new QueueStore(name, options, ctx.statements, ctx.codec, ctx.effects);
  }

  private now(): number {
    return this.options.clock.now();
  }

  private assertOpen(): void {
    if (this.ctx.isClosed()) throw new ClosedError(`sqlite queue '${this.name}'`);
  }

  async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.assertOpen();
    const frame = this.ctx.codec.encode(env);
    return this.ctx.commit.run(() => this.store.enqueue(env, frame, opts));
  }

  async receive(opts: ReceiveOptions): Promise<Delivery[]> {
    this.assertOpen();
    // waitMs is how long the caller waits, in real time; the queue's clock decides what is due.
    const until = Date.now() + opts.waitMs;
    for (;;) {
      if (this.ctx.isClosed()) return [];
      const { leases, nextDue } = await this.ctx.commit.run(() =>
        this.store.take(opts.max, this.now()),
      );
      if (leases.length > 0) return leases.map((lease) => this.deliveryOf(lease));
      const left = until - Date.now();
      if (left <= 0 || opts.signal?.aborted === true) return [];
      // Wake on an in-process change, on the next delay or lease end, or to poll for changes
      // made by other processes sharing the file.
      await this.sleep(Math.min(left, nextDue - this.now(), this.ctx.pollMs), opts.signal);
    }
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      const off = this.ctx.onChange(this.name, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private deliveryOf(lease: Lease): Delivery {
    const { ctx, store, name } = this;
    let leaseUntil = lease.leaseUntil;
    let settled = false;
    // Once acked, nacked or rejected, this delivery holds nothing: later calls are no-ops
    // without a round trip (the stored row no longer matches the lease anyway).
    const settle = (fn: () => void): Promise<void> => {
      if (ctx.isClosed()) return Promise.reject(new ClosedError(`sqlite queue '${name}'`));
      if (settled) return Promise.resolve();
      settled = true;
      return ctx.commit.run(fn).catch((err: unknown) => {
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
      nack: (o: NackOptions = {}) => settle(() => store.nack(lease, o.error, o.delayMs)),
      reject: (error: WireErrorBody) => settle(() => store.reject(lease, error)),
      extend: async (ms: number) => {
        this.assertOpen();
        leaseUntil = await ctx.commit.run(() => store.extend(lease, ms));
      },
    };
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    return this.ctx.commit.run(() => this.store.stats(this.now()));
  }

  async deadLetters(opts: { limit?: number } = {}): Promise<DeadLetter[]> {
    this.assertOpen();
    const limit = opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT;
    const rows = await this.ctx.commit.run(() => {
      this.store.maintain(this.now());
      return this.ctx.statements.deadList.all(this.name, limit) as DeadRow[];
    });
    return rows.map((row) => deadLetterOf(row, this.name, this.ctx.codec));
  }

  async replayDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    return this.ctx.commit.run(() => {
      const now = this.now();
      let n = 0;
      for (const row of deadRows(this.ctx.statements, this.name, ids)) {
        if (this.store.replay(row.id, row.frame, now)) n++;
      }
      return n;
    });
  }

  async purgeDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    return this.ctx.commit.run(() => {
      const st = this.ctx.statements;
      if (ids === undefined) return st.deadPurge.run(this.name).changes;
      let n = 0;
      for (const id of ids) n += st.deadDelete.run(this.name, id).changes;
      return n;
    });
  }
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
