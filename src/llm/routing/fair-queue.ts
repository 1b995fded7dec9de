// The waiting room of one model: strict priority between three classes and, within a class,
// weighted fair shares between tenants by start-time fair queuing (Goyal, Vin, Cheng,
// "Start-time Fair Queuing", SIGCOMM 1996), with optional aging so a low class is not starved.

export type PriorityClass = 'high' | 'normal' | 'low';

/** Classes in serving order. */
export const PRIORITY_CLASSES: readonly PriorityClass[] = ['high', 'normal', 'low'];
const RANK: Readonly<Record<PriorityClass, number>> = { high: 2, normal: 1, low: 0 };

/** The class of an envelope priority (0..9): 7 and up high, 4 to 6 normal, 3 and below low. */
export function priorityClass(prio: number): PriorityClass {
  return prio >= 7 ? 'high' : prio >= 4 ? 'normal' : 'low';
}

export interface FairItem {
  readonly tenant: string;
  readonly priority: PriorityClass;
  /** Work the item stands for (tokens, or 1 per request); shares are measured in it. */
  readonly cost: number;
  /** The tenant's weight: backlogged tenants get service in proportion to their weights. */
  readonly weight: number;
  readonly enqueuedAt: number;
}

/** One queued item with its SFQ tags. `live` turns false once it is taken or removed. */
export interface QueueEntry<T> {
  readonly item: T;
  readonly start: number;
  readonly finish: number;
  readonly seq: number;
  live: boolean;
}

/** An array-backed FIFO; removal elsewhere is lazy (dead entries are skipped at the head). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) this.keep(() => true);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  keep(predicate: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(predicate);
    this.head = 0;
  }
}

class ClassQueue<T extends FairItem> {
  size = 0;
  private dead = 0;
  /** SFQ virtual time: the start tag of the entry served last. */
  private virtualTime = 0;
  private maxFinish = 0;
  private readonly lastFinish = new Map<string, number>();
  private readonly flows = new Map<string, Fifo<QueueEntry<T>>>();
  private readonly arrivals = new Fifo<QueueEntry<T>>();

  push(item: T, seq: number): QueueEntry<T> {
    // SFQ tags: start where the tenant's previous item finishes, or now if it has been idle.
    const start = Math.max(this.virtualTime, this.lastFinish.get(item.tenant) ?? 0);
    const entry = { item, start, finish: start + item.cost / item.weight, seq, live: true };
    this.lastFinish.set(item.tenant, entry.finish);
    let flow = this.flows.get(item.tenant);
    if (flow === undefined) {
      flow = new Fifo();
      this.flows.set(item.tenant, flow);
    }
    flow.push(entry);
    this.arrivals.push(entry);
    this.size++;
    return entry;
  }

  /** The entry with the smallest start tag, ties by arrival; O(tenants waiting). */
  popFair(): QueueEntry<T> | undefined {
    let best: QueueEntry<T> | undefined;
    for (const [tenant, flow] of this.flows) {
      const head = liveHead(flow);
      if (head === undefined) {
        this.flows.delete(tenant);
        continue;
      }
      if (
        best === undefined ||
        head.start < best.start ||
        (head.start === best.start && head.seq < best.seq)
      ) {
        best = head;
      }
    }
    if (best !== undefined) this.take(best);
    return best;
  }

  oldest(): QueueEntry<T> | undefined {
    return liveHead(this.arrivals);
  }

  popOldest(): QueueEntry<T> | undefined {
    const entry = this.oldest();
    if (entry !== undefined) this.take(entry);
    return entry;
  }

  remove(entry: QueueEntry<T>): void {
    if (!entry.live) return;
    entry.live = false;
    this.settle();
  }

  private take(entry: QueueEntry<T>): void {
    entry.live = false;
    this.virtualTime = Math.max(this.virtualTime, entry.start);
    this.maxFinish = Math.max(this.maxFinish, entry.finish);
    this.settle();
  }

  private settle(): void {
    this.size--;
    this.dead++;
    if (this.size === 0) {
      // End of a busy period: SFQ moves virtual time to the largest finish tag served, and no
      // tenant's past finish tag can matter any more.
      this.virtualTime = Math.max(this.virtualTime, this.maxFinish);
      this.lastFinish.clear();
      this.flows.clear();
      this.arrivals.keep(() => false);
      this.dead = 0;
    } else if (this.dead > 64 && this.dead > 2 * this.size) {
      for (const flow of this.flows.values()) flow.keep(isLive);
      this.arrivals.keep(isLive);
      this.dead = 0;
    }
  }
}

function isLive<T>(entry: QueueEntry<T>): boolean {
  return entry.live;
}

function liveHead<T>(fifo: Fifo<QueueEntry<T>>): QueueEntry<T> | undefined {
  for (let head = fifo.peek(); head !== undefined; head = fifo.peek()) {
    if (head.live) return head;
    fifo.shift();
  }
  return undefined;
}

export class PriorityFairQueue<T extends FairItem> {
  private readonly classes: Readonly<Record<PriorityClass, ClassQueue<T>>> = {
    high: new ClassQueue(),
    normal: new ClassQueue(),
    low: new ClassQueue(),
  };
  private seq = 0;

  /**
   * @param agingMs With aging, a class is ranked by its level (high 2, normal 1, low 0) plus
   *   the wait of its oldest item in units of `agingMs`, so a low item waits at most about
   *   2 * agingMs longer than a high one that arrived with it. Without, priority is strict.
   */
  constructor(private readonly agingMs?: number) {}

  get size(): number {
    return this.classes.high.size + this.classes.normal.size + this.classes.low.size;
  }

  /** Items served before a newcomer of class `cls` (aging aside). */
  sizeAtOrAbove(cls: PriorityClass): number {
    let n = 0;
    for (const c of PRIORITY_CLASSES) {
      n += this.classes[c].size;
      if (c === cls) break;
    }
    return n;
  }

  /** `enqueuedAt` of the item that has waited longest, in any class; undefined when empty. */
  get oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const cls of PRIORITY_CLASSES) {
      const at = this.classes[cls].oldest()?.item.enqueuedAt;
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
    }
    return oldest;
  }

  push(item: T): QueueEntry<T> {
    return this.classes[item.priority].push(item, this.seq++);
  }

  remove(entry: QueueEntry<T>): void {
    this.classes[entry.item.priority].remove(entry);
  }

  /** Takes the next item to serve. */
  pop(now: number): T | undefined {
    let top: ClassQueue<T> | undefined;
    let chosen: ClassQueue<T> | undefined;
    let best = Number.NEGATIVE_INFINITY;
    for (const cls of PRIORITY_CLASSES) {
      const queue = this.classes[cls];
      if (queue.size === 0) continue;
      top ??= queue;
      if (this.agingMs === undefined) break;
      const waited = now - (queue.oldest()?.item.enqueuedAt ?? now);
      const score = RANK[cls] + waited / this.agingMs;
      if (score > best) {
        best = score;
        chosen = queue;
      }
    }
    chosen ??= top;
    if (chosen === undefined) return undefined;
    // A class served out of turn by aging serves its oldest item: the one that aged.
    const entry = chosen === top ? chosen.popFair() : chosen.popOldest();
    return entry?.item;
  }
}
