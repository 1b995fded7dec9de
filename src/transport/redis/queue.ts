// The DurableQueue handle of the redis transport: argument checks, the waiting receive (take,
// and when nothing is ready wait for the queue's bell or the next due time), deliveries, and
// dead letters read back through the codec.
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

export function createRedisQueue(
  name: string,
  options: ResolvedQueueOptions,
  store: QueueStore,
  ctx: QueueContext,
): DurableQueue {
  const { codec } = ctx;
  const bellChannel = ctx.keys.bell(store.base);

  const assertOpen = () => {
    if (ctx.isClosed()) throw new ClosedError(`redis queue '${name}'`);
  };

  async function receive(opts: ReceiveOptions): Promise<Delivery[]> {
    assertOpen();
    const max = opts.max;
    const until = Date.now() + Math.max(0, opts.waitMs);
    const bell = opts.waitMs > 0 ? ctx.bells.acquire(bellChannel) : undefined;
    try {
      // Listening before the first take: a message enqueued between the take and the wait
      // still rings.
      if (bell !== undefined) await bell.ready;
      for (;;) {
        if (ctx.isClosed()) return [];
        const rings = bell?.rings ?? 0;
        const asked = Date.now();
        const { leases, nextDueMs } = await store.take(max);
        if (leases.length > 0) {
          const out = await deliveries(leases, asked);
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

  async function deliveries(leases: Lease[], asked: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const lease of leases) {
      let envelope: Envelope;
      try {
        envelope = codec.decode(lease.frame);
      } catch (err) {
        // A frame this codec cannot open (keys rotated away, corrupt bytes) must not come back
        // forever: it goes to the dead letters with the decoding error.
        await store.reject(lease, toWireError(err).toWire());
        continue;
      }
      envelope.attempt = lease.attempt;
      out.push(deliveryOf(lease, envelope, asked));
    }
    return out;
  }

  function deliveryOf(lease: Lease, envelope: Envelope, asked: number): Delivery {
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
        const asked = Date.now();
        if (settled || !(await store.extend(lease, ms))) {
          throw new NotFoundError(`lease on message ${lease.id} was lost`, {
            details: { queue: name, id: lease.id },
          });
        }
        leaseUntil = asked + ms;
      },
    };
  }

  function deadLetterOf(entry: DeadEntry): DeadLetter {
    let envelope: Envelope;
    try {
      envelope = codec.decode(entry.frame);
    } catch {
      // Unreadable with this codec: show what the stream knows so it can still be purged.
      envelope = { v: PROTOCOL_VERSION, id: entry.id, kind: 'unknown', subject: name, ts: 0 };
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

  /** Moves one dead letter back; false when it cannot be read or written with this codec. */
  async function replayOne(entry: DeadEntry): Promise<boolean> {
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
    return store.replay(entry, frame, env.prio ?? 5, env.key);
  }

  return {
    name,
    async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
      assertOpen();
      const outcome = await store.enqueue({
        id: env.id,
        frame: toBuffer(codec.encode(env)),
        prio: env.prio ?? 5,
        key: env.key,
        delayMs: Math.round(opts.delayMs ?? 0),
        ttlMs: opts.ttlMs === undefined ? undefined : Math.round(opts.ttlMs),
        deadline: env.deadline,
      });
      if (outcome === 'full') {
        throw new OverloadedError(`queue '${name}' is full (${options.maxDepth} messages)`, {
          details: { queue: name, maxDepth: options.maxDepth },
        });
      }
      return { id: env.id, duplicate: outcome === 'duplicate' };
    },
    receive,
    async stats() {
      assertOpen();
      return store.stats();
    },
    async deadLetters(opts: { limit?: number } = {}) {
      assertOpen();
      const entries = await store.deadPage('-', opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT);
      return entries.map(deadLetterOf);
    },
    async replayDeadLetters(ids?: string[]) {
      assertOpen();
      let n = 0;
      if (ids !== undefined) {
        for (const entry of await store.deadByIds(ids)) if (await replayOne(entry)) n++;
        return n;
      }
      for (let after = '-'; ;) {
        const page = await store.deadPage(after, REPLAY_PAGE);
        for (const entry of page) if (await replayOne(entry)) n++;
        if (page.length < REPLAY_PAGE) return n;
        after = page[page.length - 1]!.dsid;
      }
    },
    async purgeDeadLetters(ids?: string[]) {
      assertOpen();
      return store.purge(ids);
    },
  };
}

function toBuffer(frame: Uint8Array): Buffer {
  return Buffer.isBuffer(frame)
    ? frame
    : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}
