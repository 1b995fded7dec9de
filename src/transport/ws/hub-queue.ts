// The durable-queue calls of one remote peer, run on the hub's local transport. On the wire a
// leased delivery is a handle number; the leases belong to the peer's connection, and when it
// goes away they are nacked back at once (as a lease expiry would, without waiting it out).
import type { Codec } from '../../codec/codec.js';
import {
  ConfigError,
  errorFromWire,
  InvalidMessageError,
  NotFoundError,
  OverloadedError,
  toWireError,
  type WireErrorBody,
} from '../../protocol/index.js';
import type { Delivery, DurableQueue, Transport } from '../transport.js';
import { MAX_BATCH, type DeadRecord, type DeliveryRecord, type QueueRecord } from './wire.js';

/** Longest long-poll a peer may ask for; it asks again after that. */
const MAX_WAIT_MS = 60_000;
/** A lease this long past its end is forgotten; the queue has taken the message back by then. */
const LEASE_GRACE_MS = 5_000;

interface Lease {
  readonly delivery: Delivery;
  leaseUntil: number;
}

export interface QueueCallResult {
  result?: unknown;
  items?: (DeliveryRecord | DeadRecord)[];
}

const WORKER_LOST: WireErrorBody = {
  code: 'worker_lost',
  message: 'the peer holding the lease disconnected',
  retryable: true,
};

export class PeerQueues {
  private readonly leases = new Map<number, Lease>();
  private readonly receives = new Map<number, AbortController>();
  private readonly opened = new Map<string, DurableQueue>();
  private disposed = false;

  constructor(
    private readonly local: Transport,
    private readonly codec: Pick<Codec, 'encode' | 'decode'>,
    private readonly maxLeases: number,
    /** Hands out handle numbers unique across the hub, so a stale handle never names a new lease. */
    private readonly nextHandle: () => number,
  ) {}

  get leaseCount(): number {
    return this.leases.size;
  }

  /** Runs one queue call; rejects with the error to send back. */
  async call(rec: QueueRecord): Promise<QueueCallResult> {
    try {
      return await this.run(rec);
    } catch (err) {
      // The wire schema passes arguments the queue contract refuses (a `ttlMs` or `ms` of 0, a
      // `limit` of 0): they came from the peer, so say what was wrong, rather than 'internal'.
      if (err instanceof ConfigError) {
        throw new InvalidMessageError(`${rec.op} on queue '${rec.queue}': ${err.message}`);
      }
      throw err;
    }
  }

  private async run(rec: QueueRecord): Promise<QueueCallResult> {
    const q = this.open(rec.queue, rec.opts);
    switch (rec.op) {
      case 'q.enqueue': {
        const env = this.codec.decode(rec.frame);
        const opts: { delayMs?: number; ttlMs?: number } = {};
        if (rec.delayMs !== undefined) opts.delayMs = rec.delayMs;
        if (rec.ttlMs !== undefined) opts.ttlMs = rec.ttlMs;
        const r = await q.enqueue(env, opts);
        return { result: { id: r.id, duplicate: r.duplicate } };
      }
      case 'q.receive':
        return this.receive(q, rec.id, rec.max, rec.waitMs);
      case 'q.ack': {
        const lease = this.take(rec.h);
        if (lease !== undefined) await lease.delivery.ack();
        return {};
      }
      case 'q.nack': {
        const lease = this.take(rec.h);
        if (lease === undefined) return {};
        const opts: { delayMs?: number; error?: WireErrorBody } = {};
        if (rec.delayMs !== undefined) opts.delayMs = rec.delayMs;
        if (rec.error !== undefined) opts.error = errorFromWire(rec.error).toWire();
        await lease.delivery.nack(opts);
        return {};
      }
      case 'q.extend': {
        const lease = this.leases.get(rec.h);
        if (lease === undefined) throw new NotFoundError(`lease ${rec.h} was lost`);
        await lease.delivery.extend(rec.ms);
        lease.leaseUntil = Date.now() + rec.ms;
        return {};
      }
      case 'q.reject': {
        const lease = this.take(rec.h);
        if (lease !== undefined) await lease.delivery.reject(errorFromWire(rec.error).toWire());
        return {};
      }
      case 'q.stats':
        return { result: await q.stats() };
      case 'q.dead': {
        const letters = await q.deadLetters({ limit: Math.min(rec.limit ?? 100, MAX_BATCH) });
        const items = letters.map((l): DeadRecord => ({
          op: 'dead',
          id: rec.id,
          frame: this.codec.encode(l.envelope),
          reason: l.reason,
          attempts: l.attempts,
          deadAt: l.deadAt,
          ...(l.error === undefined ? {} : { error: l.error }),
        }));
        return { result: { n: items.length }, items };
      }
      case 'q.replay':
        return { result: { n: await q.replayDeadLetters(rec.ids) } };
      case 'q.purge':
        return { result: { n: await q.purgeDeadLetters(rec.ids) } };
    }
  }

  /** Ends a waiting `q.receive` early; it then answers with what it has. */
  cancel(id: number): void {
    this.receives.get(id)?.abort();
  }

  /** The peer is gone: stop its long-polls and give its leased messages back. */
  dispose(onError: (err: unknown) => void): void {
    this.disposed = true;
    for (const ac of this.receives.values()) ac.abort();
    this.receives.clear();
    for (const lease of this.leases.values()) {
      lease.delivery.nack({ error: WORKER_LOST }).catch(onError);
    }
    this.leases.clear();
  }

  private open(name: string, opts: QueueRecord['opts']): DurableQueue {
    let q = this.opened.get(name);
    if (q === undefined) {
      q = this.local.queue(name, opts);
      if (this.opened.size >= 1024) this.opened.clear();
      this.opened.set(name, q);
    }
    return q;
  }

  private take(h: number): Lease | undefined {
    const lease = this.leases.get(h);
    this.leases.delete(h);
    return lease;
  }

  private async receive(
    q: DurableQueue,
    id: number,
    max: number,
    waitMs: number,
  ): Promise<QueueCallResult> {
    this.sweep();
    const room = Math.min(max, MAX_BATCH, this.maxLeases - this.leases.size);
    if (room <= 0) {
      throw new OverloadedError(
        `this peer holds ${this.leases.size} unsettled deliveries; ack or nack some first`,
      );
    }
    const ac = new AbortController();
    this.receives.set(id, ac);
    let got: Delivery[];
    try {
      got = await q.receive({
        max: room,
        waitMs: Math.min(waitMs, MAX_WAIT_MS),
        signal: ac.signal,
      });
    } finally {
      this.receives.delete(id);
    }
    const items: DeliveryRecord[] = [];
    for (const delivery of got) {
      if (this.disposed) {
        delivery.nack({ error: WORKER_LOST }).catch(() => undefined);
        continue;
      }
      let frame: Uint8Array;
      try {
        frame = this.codec.encode(delivery.envelope);
      } catch (err) {
        // Too big (or otherwise unsendable) for this link: leave it to another consumer.
        delivery.nack({ error: toWireError(err).toWire() }).catch(() => undefined);
        continue;
      }
      const h = this.nextHandle();
      this.leases.set(h, { delivery, leaseUntil: delivery.leaseUntil });
      items.push({
        op: 'dlv',
        id,
        h,
        frame,
        attempt: delivery.attempt,
        leaseMs: Math.max(0, delivery.leaseUntil - Date.now()),
      });
    }
    return { result: { n: items.length }, items };
  }

  /** Forgets leases long past their end, which the queue has already taken back. */
  private sweep(): void {
    const cutoff = Date.now() - LEASE_GRACE_MS;
    for (const [h, lease] of this.leases) if (lease.leaseUntil < cutoff) this.leases.delete(h);
  }
}
