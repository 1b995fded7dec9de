// The local buffer of one queue consumer: the messages the broker has handed this process and
// not yet had back, ready lists per priority, the order of each key (only its head may go),
// and a sweep that finds the ones whose TTL passed while they waited here.
import type { ConsumeMessage } from 'amqplib';
import type { Envelope, WireErrorBody } from '../../protocol/index.js';
import { MinHeap } from '../heap.js';

export type State = 'ready' | 'leased' | 'delayed' | 'blocked' | 'moving' | 'done';

export interface Item {
  readonly msg: ConsumeMessage;
  /** The consumer channel it came on: an ack is only valid on that channel. */
  readonly gen: number;
  readonly env: Envelope;
  readonly prio: number;
  /** Set only on messages of the keyed queue, the ones held to their key's order. */
  readonly key: string | undefined;
  readonly expiresAt: number;
  availableAt: number;
  /** Deliveries so far, this one included while leased. */
  attempts: number;
  state: State;
  lease: number;
  leaseUntil: number;
  timer: NodeJS.Timeout | undefined;
  lastError: WireErrorBody | undefined;
}

export const LEVELS = 10;

export class DeliveryBuffer {
  readonly live = new Set<Item>();
  private readonly ready: Item[][] = Array.from({ length: LEVELS }, () => []);
  private readonly keys = new Map<string, Item[]>();
  private readonly expiring = new MinHeap<Item>((i) => i.expiresAt);
  private expiryTimer: NodeJS.Timeout | undefined;

  /** `onExpired` gets each waiting item whose TTL passed (leased ones keep their lease). */
  constructor(private readonly onExpired: (item: Item) => void) {}

  /** Adds an arrival; true when it may go now, false when it waits behind its key's head. */
  add(item: Item): boolean {
    this.live.add(item);
    if (item.expiresAt !== Infinity) this.watchExpiry(item);
    if (item.key === undefined) return true;
    const list = this.keys.get(item.key);
    if (list !== undefined) {
      list.push(item);
      return false;
    }
    this.keys.set(item.key, [item]);
    return true;
  }

  markReady(item: Item): void {
    item.state = 'ready';
    this.ready[item.prio]!.push(item);
  }

  /** Up to `max` ready items, highest priority first; `expired` gets those past their TTL. */
  take(max: number, now: number, expired: (item: Item) => void): Item[] {
    const out: Item[] = [];
    for (let level = LEVELS - 1; level >= 0 && out.length < max; level--) {
      const list = this.ready[level]!;
      let head = 0;
      while (head < list.length && out.length < max) {
        const item = list[head++]!;
        if (item.state !== 'ready') continue; // settled some other way since
        if (item.expiresAt <= now) expired(item);
        else out.push(item);
      }
      list.splice(0, head);
    }
    return out;
  }

  /** Forgets a finished item; returns the next of its key when that one may go now. */
  remove(item: Item): Item | undefined {
    this.live.delete(item);
    const key = item.key;
    if (key === undefined) return undefined;
    const list = this.keys.get(key);
    if (list === undefined) return undefined;
    const at = list.indexOf(item);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.keys.delete(key);
    else if (at === 0 && list[0]!.state === 'blocked') return list[0];
    return undefined;
  }

  /** Empties the buffer (its channel is gone, and the broker has requeued all of it). */
  clear(): void {
    for (const item of this.live) {
      clearTimeout(item.timer);
      item.state = 'done';
    }
    this.live.clear();
    for (const list of this.ready) list.length = 0;
    this.keys.clear();
    while (this.expiring.pop() !== undefined);
  }

  counts(): { ready: number; leased: number; waiting: number } {
    const c = { ready: 0, leased: 0, waiting: 0 };
    for (const item of this.live) {
      if (item.state === 'ready') c.ready++;
      else if (item.state === 'leased') c.leased++;
      else c.waiting++;
    }
    return c;
  }

  /** True when nothing is leased, held for a retry or on its way somewhere. */
  get idle(): boolean {
    for (const item of this.live)
      if (item.state !== 'ready' && item.state !== 'blocked') return false;
    return true;
  }

  private watchExpiry(item: Item): void {
    this.expiring.push(item);
    this.arm(this.expiring.peek()!.expiresAt);
  }

  private arm(at: number): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.sweep(), Math.max(0, at - Date.now()));
    this.expiryTimer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (let top = this.expiring.peek(); top !== undefined; top = this.expiring.peek()) {
      if (top.expiresAt > now) {
        this.arm(top.expiresAt);
        return;
      }
      this.expiring.pop();
      const s = top.state;
      if (this.live.has(top) && (s === 'ready' || s === 'blocked' || s === 'delayed')) {
        this.onExpired(top);
      }
    }
  }

  close(): void {
    clearTimeout(this.expiryTimer);
    this.clear();
  }
}
