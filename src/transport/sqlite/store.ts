// Row-level queue operations on SQLite. Every method runs inside a group-commit transaction and
// is written against the table alone, so several processes sharing the file stay consistent.
import type { Codec } from '../../codec/codec.js';
import {
  NotFoundError,
  OverloadedError,
  toWireError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import { LEASE_EXPIRED } from '../queue-contract.js';
import { backoffDelay, expiryOf } from '../queue-policy.js';
import type {
  DeadLetterReason,
  EnqueueOptions,
  EnqueueResult,
  QueueStats,
  ResolvedQueueOptions,
} from '../transport.js';
import type { TxEffects } from './effects.js';
import { State, type MessageRow } from './schema.js';
import type { Statements } from './statements.js';

/**
 * One lease taken by `take`. The row and attempt number identify it: attempts only grow and row
 * numbers are never reused (AUTOINCREMENT), so a stale handle can never match a later lease.
 */
export interface Lease {
  seq: number;
  key: string | null;
  attempt: number;
  leaseUntil: number;
  envelope: Envelope;
}

const DEDUP_PRUNE_EVERY_MS = 1_000;
/** How long pruning leaves the dedup row of a message that outlived its window. */
const DEDUP_RECHECK_LIVE_MS = 60_000;

export class QueueStore {
  private lastPrune = 0;

  constructor(
    readonly name: string,
    private readonly options: ResolvedQueueOptions,
    private readonly st: Statements,
    private readonly codec: Codec,
    private readonly fx: TxEffects,
  ) {}

  enqueue(env: Envelope, frame: Uint8Array, opts: EnqueueOptions): EnqueueResult {
    const { st, name } = this;
    const now = this.options.clock.now();
    const seen = st.dedupGet.get(name, env.id) as { until: number; seq: number } | undefined;
    // A duplicate inside the window, or of a message still in the queue whatever its age.
    if (seen !== undefined && (seen.until >= now || st.isLive.get(seen.seq) !== undefined)) {
      return { id: env.id, duplicate: true };
    }
    if (Number.isFinite(this.options.maxDepth)) {
      if (this.fx.depth(name) >= this.options.maxDepth) {
        throw new OverloadedError(`queue '${name}' is full (${this.options.maxDepth} messages)`, {
          details: { queue: name, maxDepth: this.options.maxDepth },
        });
      }
    }
    this.pruneDedup(now);
    const expires = expiryOf(env.deadline, now, opts.ttlMs);
    this.insert(env, frame, now + (opts.delayMs ?? 0), expires, now);
    return { id: env.id, duplicate: false };
  }

  private insert(
    env: Envelope,
    frame: Uint8Array,
    availableAt: number,
    expires: number,
    now: number,
  ) {
    const key = env.key ?? null;
    const blocked = key !== null && this.st.keyInQueue.get(this.name, key) !== undefined;
    const state = blocked ? State.blocked : availableAt > now ? State.delayed : State.ready;
    const expiresAt = Number.isFinite(expires) ? expires : null;
    const { lastInsertRowid } = this.st.insert.run(
      this.name,
      env.id,
      env.prio ?? 5,
      key,
      state,
      availableAt,
      expiresAt,
      frame,
    );
    const until = now + this.options.dedupWindowMs;
    this.st.dedupPut.run(this.name, env.id, until, lastInsertRowid, until);
    this.fx.addDepth(this.name, 1);
    // Waiting receivers look again: at once if it is ready, else to shorten their sleep.
    this.fx.touch(this.name);
  }

  private pruneDedup(now: number): void {
    if (now - this.lastPrune < DEDUP_PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.st.dedupPrune.run({ now });
    this.st.dedupDefer.run({ now, later: now + DEDUP_RECHECK_LIVE_MS });
  }

  /** Leases up to `max` ready messages, highest priority first, FIFO within a priority. */
  take(max: number, now: number): { leases: Lease[]; nextDue: number } {
    this.maintain(now);
    const leaseUntil = now + this.options.leaseMs;
    const rows = this.st.lease.all(leaseUntil, this.name, max) as {
      seq: number;
      prio: number;
      key: string | null;
      attempts: number;
      frame: Uint8Array;
    }[];
    rows.sort((a, b) => b.prio - a.prio || a.seq - b.seq);
    const leases: Lease[] = [];
    for (const row of rows) {
      let envelope: Envelope;
      try {
        envelope = this.codec.decode(row.frame);
      } catch (err) {
        // A frame this codec cannot open (keys rotated away, corrupt bytes) must not come back
        // forever: it goes to the dead letters with the decoding error.
        this.kill(row.seq, row.key, 'rejected', toWireError(err).toWire(), now);
        continue;
      }
      envelope.attempt = row.attempts;
      leases.push({ seq: row.seq, key: row.key, attempt: row.attempts, leaseUntil, envelope });
    }
    // Rows that were all undecodable leave nothing to deliver yet more may be ready: look again.
    if (rows.length > 0) return { leases, nextDue: now };
    const delayed = this.st.nextDelayed.get(this.name) as number | null;
    const leaseEnd = this.st.nextLeaseEnd.get(this.name) as number | null;
    return { leases, nextDue: Math.min(delayed ?? Infinity, leaseEnd ?? Infinity) };
  }

  /**
   * Applies the clock: ended leases count as failed attempts, expired messages go to the dead
   * letters (never while a consumer holds them), due delays become ready.
   */
  maintain(now: number): void {
    const { st, name } = this;
    for (const row of st.expiredLeases.all(name, now) as MessageRow[]) {
      this.fail(row, now, LEASE_EXPIRED, undefined, row.lease_until);
    }
    for (const row of st.expired.all(name, now) as MessageRow[]) {
      this.kill(row.seq, row.key, 'expired', undefined, now);
    }
    st.promote.run(name, now);
  }

  /** The row behind a lease, if that lease is still held (not ended, not superseded). */
  private held(lease: Lease, now: number): MessageRow | undefined {
    return this.st.leasedRow.get(lease.seq, lease.attempt, now) as MessageRow | undefined;
  }

  ack(lease: Lease): void {
    const now = this.options.clock.now();
    if (this.st.ack.run(lease.seq, lease.attempt, now).changes === 0) return;
    this.fx.addDepth(this.name, -1);
    if (lease.key !== null) this.unblock(lease.key, now);
  }

  nack(lease: Lease, error: WireErrorBody | undefined, delayMs: number | undefined): void {
    const now = this.options.clock.now();
    const row = this.held(lease, now);
    if (row !== undefined) this.fail(row, now, error, delayMs, now);
  }

  reject(lease: Lease, error: WireErrorBody): void {
    const now = this.options.clock.now();
    if (this.held(lease, now) === undefined) return;
    this.kill(lease.seq, lease.key, 'rejected', error, now);
  }

  extend(lease: Lease, ms: number): number {
    const now = this.options.clock.now();
    const until = now + ms;
    const { changes } = this.st.extend.run(until, lease.seq, lease.attempt, now);
    if (changes === 0) {
      throw new NotFoundError(`lease on message ${lease.envelope.id} was lost`, {
        details: { queue: this.name, id: lease.envelope.id },
      });
    }
    return until;
  }

  /** A failed delivery: dead once its attempts are used up or it has expired, else retried later. */
  private fail(
    row: MessageRow,
    now: number,
    error: WireErrorBody | undefined,
    delayMs: number | undefined,
    failedAt: number,
  ): void {
    if (row.attempts >= this.options.maxAttempts) {
      this.kill(row.seq, row.key, 'max_attempts', error, now);
      return;
    }
    if (row.expires_at !== null && row.expires_at <= now) {
      this.kill(row.seq, row.key, 'expired', error, now);
      return;
    }
    const availableAt = failedAt + (delayMs ?? backoffDelay(row.attempts, this.options.backoff));
    const state = availableAt > now ? State.delayed : State.ready;
    this.st.requeue.run(
      state,
      availableAt,
      error === undefined ? null : JSON.stringify(error),
      row.seq,
    );
    this.fx.touch(this.name);
  }

  /** Moves a live message to the dead letters, keeping the last error unless a newer is given. */
  kill(
    seq: number,
    key: string | null,
    reason: DeadLetterReason,
    error: WireErrorBody | undefined,
    now: number,
  ): void {
    this.st.kill.run(reason, error === undefined ? null : JSON.stringify(error), now, seq);
    if (this.st.remove.run(seq).changes === 0) return;
    this.fx.addDepth(this.name, -1);
    if (key !== null) this.unblock(key, now);
  }

  private unblock(key: string, now: number): void {
    if (this.st.unblock.run(now, this.name, key).changes > 0) this.fx.touch(this.name);
  }

  stats(now: number): QueueStats {
    this.maintain(now);
    const { st, name } = this;
    const ready = st.countReady.get(name) as number;
    const leased = st.countLeased.get(name) as number;
    const depth = this.fx.depth(name);
    const dead = st.deadCount.get(name) as number;
    // Blocked messages (waiting behind their key) are reported as delayed: held, not deliverable.
    return { ready, delayed: depth - ready - leased, leased, dead };
  }

  /** Moves one dead letter back to the queue as a new message; false if its id is live. */
  replay(id: string, frame: Uint8Array, now: number): boolean {
    const { st, name } = this;
    const seen = st.dedupGet.get(name, id) as { seq: number } | undefined;
    if (seen !== undefined && st.isLive.get(seen.seq) !== undefined) return false;
    let env: Envelope;
    try {
      env = this.codec.decode(frame);
    } catch {
      return false; // still unreadable: leave it where an operator can see and purge it
    }
    // Attempts start over and the deadline, which may be what killed it, is dropped: the
    // operator replaying it has decided it is still wanted.
    if (env.deadline !== undefined || env.attempt !== undefined) {
      const { deadline: _d, attempt: _a, ...rest } = env;
      env = rest;
      try {
        frame = this.codec.encode(env);
      } catch {
        return false; // cannot be written back with this codec; leave it for the operator
      }
    }
    st.deadDelete.run(name, id);
    this.insert(env, frame, now, Infinity, now);
    return true;
  }
}
