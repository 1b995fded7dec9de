// The DurableQueue of the redis transport (queue-contract.ts checks its arguments): the waiting
// receive (take, and when nothing is ready wait for the queue's bell or the next due time),
// deliveries, and dead letters read back through the codec.
import type { Codec } from '../../codec/codec.js';
import {
  ClosedError,
  NotFoundError,
  OverloadedError,
  PROTOCOL_VERSION,
  toWireError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import { backoffDelay } from '../queue-policy.js';
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
import type { Bells } from './bells.js';
import type { KeyLayout } from './keys.js';
import type { DeadEntry, Lease, QueueStore } from './queue-store.js';

/** What a queue needs from its transport. */
export interface QueueContext {
  readonly keys: KeyLayout;
  readonly codec: Codec;
  readonly bells: Bells;
  /** Longest a waiting receive sleeps without looking again, in case a bell was missed. */
  readonly pollMs: number;
  isClosed(): boolean;
}

const DEFAULT_DEAD_LETTER_LIMIT = 100;
const REPLAY_PAGE = 100;
const REASONS: ReadonlySet<string> = new Set(['max_attempts', 'expired', 'rejected']);

/** A durable queue in Redis: its storage steps are Lua scripts run by the QueueStore. */
export class RedisQueue implements DurableQueue {
  private readonly bellChannel: string;

  constructor(
    readonly name: string,
    private readonly options: ResolvedQueueOptions,
    private readonly store: QueueStore,
    private readonly ctx: QueueContext,
  ) {
    this.bellChannel = ctx.keys.bell(store.base);
  }

  private assertOpen(): void {
    if (this.ctx.isClosed()) throw new ClosedError(`redis queue '${this.name}'`);
  }

  async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.assertOpen();
    const outcome = await this.store.enqueue({
      id: env.id,
      frame: toBuffer(this.ctx.codec.encode(env)),
      prio: env.prio ?? 5,
      key: env.key,
      delayMs: Math.round(opts.delayMs ?? 0),
      ttlMs: opts.ttlMs === undefined ? undefined : Math.round(opts.ttlMs),
      deadline: env.deadline,
    });
    if (outcome === 'full') {
      const { maxDepth } = this.options;
      throw new OverloadedError(`queue '${this.name}' is full (${maxDepth} messages)`, {
        details: { queue: this.name, maxDepth },
      });
    }
    return { id: env.id, duplicate: outcome === 'duplicate' };
  }

  /** Takes what is ready; with nothing, waits for the queue's bell or the next due time. */
  async receive(opts: ReceiveOptions): Promise<Delivery[]> {
    this.assertOpen();
    const { ctx } = this;
    const until = Date.now() + opts.waitMs;
    const bell = opts.waitMs > 0 ? ctx.bells.acquire(this.bellChannel) : undefined;
    try {
      // Listening before the first take: a message enqueued between the take and the wait
      // still rings.
      if (bell !== undefined) await bell.ready;
      for (;;) {
        if (ctx.isClosed()) return [];
        const rings = bell?.rings ?? 0;
        const asked = Date.now();
        const { leases, nextDueMs } = await this.store.take(opts.max);
        if (leases.length > 0) {
          const out = await this.deliveries(leases, asked);
          if (out.length > 0) return out;
          continue; // all were unreadable and went to the dead letters: more may be ready
        }
        const now = Date.now();
        if (bell === undefined || now >= until || opts.signal?.aborted === true) return [];
        if (bell.rings !== rings) continue;
        const due = nextDueMs >= 0 ? nextDueMs : Infinity;
        await ctx.bells.wait(bell, Math.min(until - now, due, ctx.pollMs), opts.signal);
      }
    } finally {
      if (bell !== undefined) ctx.bells.release(bell);
    }
  }

  private async deliveries(leases: Lease[], asked: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const lease of leases) {
      let envelope: Envelope;
      try {
        envelope = this.ctx.codec.decode(lease.frame);
      } catch (err) {
        // A frame this codec cannot open (keys rotated away, corrupt bytes) must not come back
        // forever: it goes to the dead letters with the decoding error.
        await this.store.reject(lease, toWireError(err).toWire());
        continue;
      }
      envelope.attempt = lease.attempt;
      out.push(this.deliveryOf(lease, envelope, asked));
    }
    return out;
  }

  private deliveryOf(lease: Lease, envelope: Envelope, asked: number): Delivery {
    const { store, options, name } = this;
    const assertOpen = () => this.assertOpen();
    // Counted from before the take was sent, so this side never believes in a longer lease
    // than the server's clock gives.
    let leaseUntil = asked + options.leaseMs;
    let settled = false;
    // Once acked, nacked or rejected, this delivery holds nothing: later calls are no-ops
    // without a round trip (the stored lease no longer matches it anyway).
    const settle = async (fn: () => Promise<unknown>): Promise<void> => {
      assertOpen();
      if (settled) return;
      settled = true;
      try {
        await fn();
      } catch (err) {
        settled = false; // the call failed; the caller may try again
        throw err;
      }
    };
    return {
      envelope,
      attempt: lease.attempt,
      get leaseUntil() {
        return leaseUntil;
      },
      ack: () => settle(() => store.ack(lease)),
      nack: async (o: NackOptions = {}) => {
        const delay = o.delayMs ?? backoffDelay(lease.attempt, options.backoff);
        await settle(() => store.nack(lease, Math.round(delay), o.error));
      },
      reject: (error: WireErrorBody) => settle(() => store.reject(lease, error)),
      extend: async (ms: number) => {
        assertOpen();
        const extendAsked = Date.now();
        if (settled || !(await store.extend(lease, ms))) {
          throw new NotFoundError(`lease on message ${lease.id} was lost`, {
            details: { queue: name, id: lease.id },
          });
        }
        leaseUntil = extendAsked + ms;
      },
    };
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    return this.store.stats();
  }

  async deadLetters(opts: { limit?: number } = {}): Promise<DeadLetter[]> {
    this.assertOpen();
    const entries = await this.store.deadPage('-', opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT);
    return entries.map((entry) => deadLetterOf(entry, this.name, this.ctx.codec));
  }

  async replayDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    let n = 0;
    if (ids !== undefined) {
      for (const entry of await this.store.deadByIds(ids)) if (await this.replayOne(entry)) n++;
      return n;
    }
    for (let after = '-'; ;) {
      const page = await this.store.deadPage(after, REPLAY_PAGE);
      for (const entry of page) if (await this.replayOne(entry)) n++;
      if (page.length < REPLAY_PAGE) return n;
      after = page[page.length - 1]!.dsid;
    }
  }

  async purgeDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    return this.store.purge(ids);
  }

  /** Moves one dead letter back; false when it cannot be read or written with this codec. */
  private async replayOne(entry: DeadEntry): Promise<boolean> {
    const { codec } = this.ctx;
    let env: Envelope;
    let frame: Buffer;
    try {
      env = codec.decode(entry.frame);
      // Attempts start over and the deadline, which may be what killed it, is dropped: the
      // operator replaying it has decided it is still wanted.
      const { deadline: _d, attempt: _a, ...rest } = env;
      env = rest;
      frame = toBuffer(codec.encode(env));
    } catch {
      return false; // leave it where an operator can see and purge it
    }
    return this.store.replay(entry, frame, env.prio ?? 5, env.key);
  }
}

function deadLetterOf(entry: DeadEntry, queue: string, codec: Codec): DeadLetter {
  let envelope: Envelope;
  try {
    envelope = codec.decode(entry.frame);
  } catch {
    // Unreadable with this codec: show what the stream knows so it can still be purged.
    envelope = { v: PROTOCOL_VERSION, id: entry.id, kind: 'unknown', subject: queue, ts: 0 };
  }
  const reason = (REASONS.has(entry.reason) ? entry.reason : 'rejected') as DeadLetterReason;
  const letter: DeadLetter = { envelope, reason, attempts: entry.attempts, deadAt: entry.deadAt };
  if (entry.error === '') return letter;
  try {
    return { ...letter, error: JSON.parse(entry.error) as WireErrorBody };
  } catch {
    return letter;
  }
}

function toBuffer(frame: Uint8Array): Buffer {
  return Buffer.isBuffer(frame)
    ? frame
    : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}
