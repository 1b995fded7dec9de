// The in-memory durable-queue semantics: the reference every other transport is held to by the
// conformance suite. "Durable" here means durable for the life of the process.
import {
  ClosedError,
  NotFoundError,
  OverloadedError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import { MinHeap } from '../heap.js';
import { LEASE_EXPIRED, lastError } from '../queue-contract.js';
import { backoffDelay, expiryOf } from '../queue-policy.js';
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

type State = 'ready' | 'delayed' | 'leased' | 'blocked';

interface Item {
  env: Envelope;
  seq: number;
  prio: number;
  state: State;
  availableAt: number;
  leaseUntil: number;
  lease: number;
  attempt: number;
  expiresAt: number;
  lastError: WireErrorBody | undefined;
}

interface Waiter {
  wake: () => void;
}

const LEVELS = 10;

export class MemoryQueue implements DurableQueue {
  private readonly items = new Map<string, Item>();
  private readonly ready: Item[][] = Array.from({ length: LEVELS }, () => []);
  private readonly readyHead: number[] = new Array<number>(LEVELS).fill(0);
  private readonly delayed = new MinHeap<{ at: number; item: Item; lease: number }>((e) => e.at);
  private readonly expiring = new MinHeap<Item>((i) => i.expiresAt);
  private readonly keys = new Map<string, Item[]>();
  private readonly dedup = new Map<string, number>();
  private readonly dead = new Map<string, DeadLetter>();
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private seq = 0;
  private leaseSeq = 0;
  private readyCount = 0;
  private leasedCount = 0;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly options: ResolvedQueueOptions,
  ) {}

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters) w.wake();
    this.waiters = [];
  }

  private now(): number {
    return this.options.clock.now();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`queue '${this.name}'`);
  }

  enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    try {
      this.assertOpen();
      const now = this.now();
      this.pruneDedup(now);
      if (this.dedup.has(env.id) || this.items.has(env.id)) {
        return Promise.resolve({ id: env.id, duplicate: true });
      }
      const prio = env.prio ?? 5;
      if (this.items.size >= this.options.maxDepth) {
        throw new OverloadedError(
          `queue '${this.name}' is full (${this.options.maxDepth} messages)`,
        );
      }
      this.dedup.set(env.id, now);
      const item: Item = {
        env,
        seq: this.seq++,
        prio,
        state: 'blocked',
        availableAt: now + (opts.delayMs ?? 0),
        leaseUntil: 0,
        lease: 0,
        attempt: 0,
        expiresAt: expiryOf(env.deadline, now, opts.ttlMs),
        lastError: undefined,
      };
      this.items.set(env.id, item);
      if (item.expiresAt !== Infinity) {
        this.expiring.push(item);
        this.arm(item.expiresAt);
      }
      const key = env.key;
      if (key !== undefined) {
        const list = this.keys.get(key);
        if (list) list.push(item);
        else this.keys.set(key, [item]);
        if (list) return Promise.resolve({ id: env.id, duplicate: false }); // waits behind its key
      }
      this.release(item, now);
      return Promise.resolve({ id: env.id, duplicate: false });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Makes an item that may go next (head of its key) ready now or at its availableAt. */
  private release(item: Item, now: number): void {
    if (item.availableAt <= now) {
      item.state = 'ready';
      this.ready[item.prio]!.push(item);
      this.readyCount++;
      this.wakeOne();
    } else {
      item.state = 'delayed';
      this.delayed.push({ at: item.availableAt, item, lease: -1 });
      this.arm(item.availableAt);
    }
  }

  async receive(opts: ReceiveOptions): Promise<Delivery[]> {
    this.assertOpen();
    // waitMs is how long the caller waits, in real time; the queue's clock decides what is due.
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      this.tick(this.now());
      const out = this.take(opts.max);
      if (out.length > 0 || this.closed) return out;
      const left = deadline - Date.now();
      if (left <= 0 || opts.signal?.aborted) return out;
      await new Promise<void>((resolve) => {
        const waiter: Waiter = {
          wake: () => {
            clearTimeout(timeout);
            opts.signal?.removeEventListener('abort', waiter.wake);
            this.waiters = this.waiters.filter((w) => w !== waiter);
            resolve();
          },
        };
        const timeout = setTimeout(waiter.wake, left);
        opts.signal?.addEventListener('abort', waiter.wake, { once: true });
        this.waiters.push(waiter);
      });
    }
  }

  private take(max: number): Delivery[] {
    const out: Delivery[] = [];
    const now = this.now();
    for (let level = LEVELS - 1; level >= 0 && out.length < max; level--) {
      const list = this.ready[level]!;
      let head = this.readyHead[level]!;
      while (head < list.length && out.length < max) {
        const item = list[head++]!;
        if (item.state !== 'ready') continue;
        this.readyCount--;
        item.state = 'blocked';
        if (item.expiresAt <= now) {
          this.kill(item, 'expired', now);
          continue;
        }
        out.push(this.lease(item, now));
      }
      if (head === list.length) {
        list.length = 0;
        head = 0;
      }
      this.readyHead[level] = head;
    }
    return out;
  }

  private lease(item: Item, now: number): Delivery {
    item.state = 'leased';
    item.attempt++;
    item.lease = ++this.leaseSeq;
    item.leaseUntil = now + this.options.leaseMs;
    this.leasedCount++;
    this.delayed.push({ at: item.leaseUntil, item, lease: item.lease });
    this.arm(item.leaseUntil);
    const lease = item.lease;
    const envelope: Envelope = { ...item.env, attempt: item.attempt };
    // A lease ends at leaseUntil whether or not a tick has noticed yet (as on every transport).
    const owns = () =>
      item.state === 'leased' &&
      item.lease === lease &&
      item.leaseUntil > this.now() &&
      this.items.get(item.env.id) === item;
    let leaseUntil = item.leaseUntil;
    return {
      envelope,
      attempt: item.attempt,
      get leaseUntil() {
        return leaseUntil;
      },
      ack: () => {
        if (owns()) this.finish(item);
        return Promise.resolve();
      },
      nack: (o: NackOptions = {}) => {
        if (owns()) this.fail(item, this.now(), o.error, o.delayMs);
        return Promise.resolve();
      },
      extend: (ms: number) => {
        if (!owns()) return Promise.reject(new NotFoundError(`lease on ${item.env.id} was lost`));
        item.leaseUntil = leaseUntil = this.now() + ms;
        this.delayed.push({ at: item.leaseUntil, item, lease: item.lease });
        this.arm(item.leaseUntil);
        return Promise.resolve();
      },
      reject: (error: WireErrorBody) => {
        if (owns()) {
          this.leasedCount--;
          item.lastError = error;
          this.kill(item, 'rejected', this.now());
        }
        return Promise.resolve();
      },
    };
  }

  private finish(item: Item): void {
    this.leasedCount--;
    this.remove(item);
  }

  private fail(item: Item, now: number, error: WireErrorBody | undefined, delayMs?: number): void {
    this.leasedCount--;
    item.lease = 0;
    item.lastError = lastError(item.lastError, error);
    if (item.attempt >= this.options.maxAttempts) {
      this.kill(item, 'max_attempts', now);
      return;
    }
    item.availableAt = now + (delayMs ?? backoffDelay(item.attempt, this.options.backoff));
    if (item.expiresAt !== Infinity) this.expiring.push(item);
    this.release(item, now);
  }

  private kill(item: Item, reason: DeadLetterReason, now: number): void {
    const letter: DeadLetter = {
      envelope: item.env,
      reason,
      attempts: item.attempt,
      deadAt: now,
      ...(item.lastError === undefined ? {} : { error: item.lastError }),
    };
    this.dead.set(item.env.id, letter);
    this.remove(item);
  }

  /** Drops an item from the live set and lets the next message of its key go. */
  private remove(item: Item): void {
    if (item.state === 'ready') this.readyCount--;
    item.state = 'blocked';
    this.items.delete(item.env.id);
    const key = item.env.key;
    if (key === undefined) return;
    const list = this.keys.get(key);
    if (list === undefined) return;
    const at = list.indexOf(item);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.keys.delete(key);
    else if (at === 0 && list[0]!.state === 'blocked') this.release(list[0]!, this.now());
  }

  /** Moves due delayed items to ready, expires leases and TTLs. */
  private tick(now: number): void {
    for (
      let top = this.delayed.peek();
      top !== undefined && top.at <= now;
      top = this.delayed.peek()
    ) {
      this.delayed.pop();
      const { item, lease } = top;
      if (this.items.get(item.env.id) !== item) continue;
      if (lease === -1) {
        if (item.state === 'delayed' && item.availableAt <= now) {
          item.state = 'blocked';
          this.release(item, now);
        }
      } else if (item.state === 'leased' && item.lease === lease && item.leaseUntil <= now) {
        this.fail(item, now, LEASE_EXPIRED);
      }
    }
    for (
      let top = this.expiring.peek();
      top !== undefined && top.expiresAt <= now;
      top = this.expiring.peek()
    ) {
      this.expiring.pop();
      if (this.items.get(top.env.id) !== top || top.state === 'leased') continue;
      this.kill(top, 'expired', now);
    }
  }

  private arm(at: number): void {
    if (this.closed || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - this.now()));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timerAt = Infinity;
    const now = this.now();
    this.tick(now);
    const next = Math.min(
      this.delayed.peek()?.at ?? Infinity,
      this.expiring.peek()?.expiresAt ?? Infinity,
    );
    if (next !== Infinity) this.arm(next);
  }

  private wakeOne(): void {
    const waiter = this.waiters[0];
    if (waiter) waiter.wake();
  }

  private pruneDedup(now: number): void {
    for (const [id, at] of this.dedup) {
      if (now - at <= this.options.dedupWindowMs) break;
      this.dedup.delete(id);
    }
  }

  stats(): Promise<QueueStats> {
    return Promise.resolve(this.countNow());
  }

  private countNow(): QueueStats {
    this.tick(this.now());
    const blocked = this.items.size - this.readyCount - this.leasedCount;
    return {
      ready: this.readyCount,
      delayed: blocked,
      leased: this.leasedCount,
      dead: this.dead.size,
    };
  }

  deadLetters(options: { limit?: number } = {}): Promise<DeadLetter[]> {
    this.tick(this.now());
    return Promise.resolve([...this.dead.values()].slice(0, options.limit ?? 100));
  }

  replayDeadLetters(ids?: string[]): Promise<number> {
    return Promise.resolve(this.replay(ids));
  }

  purgeDeadLetters(ids?: string[]): Promise<number> {
    return Promise.resolve(this.purge(ids));
  }

  private replay(ids?: string[]): number {
    let n = 0;
    for (const id of ids ?? [...this.dead.keys()]) {
      const letter = this.dead.get(id);
      if (letter === undefined || this.items.has(id)) continue;
      // A full queue keeps the rest as dead letters rather than dropping them.
      if (this.items.size >= this.options.maxDepth) break;
      this.dead.delete(id);
      this.dedup.delete(id);
      // A replayed message starts over: attempts reset, and its deadline (which may be what
      // killed it) is dropped; the operator who replays it decides it is still wanted.
      const { deadline: _d, attempt: _a, ...env } = letter.envelope;
      void this.enqueue(env);
      n++;
    }
    return n;
  }

  private purge(ids?: string[]): number {
    if (ids === undefined) {
      const n = this.dead.size;
      this.dead.clear();
      return n;
    }
    let n = 0;
    for (const id of ids) if (this.dead.delete(id)) n++;
    return n;
  }
}
