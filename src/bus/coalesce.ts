// Chunk coalescing on the responder side of a stream (docs/protocol.md, "Coalesced items"):
// items written within `maxDelayMs` of the first one pending go out as one message whose body is
// the array of their bodies, `items` = how many, `seq` = the last one's. Only for requests that
// said, with `batch`, that their reader unpacks such messages. A paced producer (a model emitting
// tokens) then pays one broker message per few tokens instead of one per token.
import { Type } from '@sinclair/typebox';
import { MAX_BATCH_ITEMS, type Envelope } from '../protocol/index.js';
import type { BusContext } from './context.js';

export interface CoalesceOptions {
  /**
   * Longest an item waits for others to join it, ms (0 to 1000). 0 waits for nothing: the items
   * a responder writes in one turn of the event loop leave together at its end.
   */
  maxDelayMs: number;
  /** Most items in one message. Default and cap 64. */
  maxChunks?: number;
  /** Most body bytes (JSON length of the items) in one message. Default and cap 16 KiB. */
  maxBytes?: number;
}

export interface ResolvedCoalesce {
  readonly maxDelayMs: number;
  readonly maxChunks: number;
  readonly maxBytes: number;
}

export const MAX_COALESCE_BYTES = 16 * 1024;

/** The schema of CoalesceOptions (checked as the bus option `coalesce`). */
export const CoalesceSchema = Type.Object(
  {
    maxDelayMs: Type.Number({ minimum: 0, maximum: 1000 }),
    maxChunks: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_ITEMS })),
    maxBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COALESCE_BYTES })),
  },
  { additionalProperties: false },
);

/** What a bus does with no `coalesce` option: items written in one turn leave together. */
export const DEFAULT_COALESCE: CoalesceOptions = { maxDelayMs: 0 };

/**
 * Coalescing with its defaults filled in (the options were checked against CoalesceSchema);
 * undefined for `false`, one message per item.
 */
export function resolveCoalesce(
  options: CoalesceOptions | false | undefined,
): ResolvedCoalesce | undefined {
  if (options === false) return undefined;
  const {
    maxDelayMs,
    maxChunks = MAX_BATCH_ITEMS,
    maxBytes = MAX_COALESCE_BYTES,
  } = options ?? DEFAULT_COALESCE;
  return { maxDelayMs, maxChunks, maxBytes };
}

/**
 * Rough JSON size of an item, without serializing it: strings and bytes by length, a flat
 * object (a token delta) by its keys and string values, anything deeper by JSON.stringify. Once
 * per item, so it must cost far less than the item's own encoding.
 */
function sizeOf(body: unknown): number {
  if (typeof body === 'string') return body.length + 2;
  if (body instanceof Uint8Array) return body.byteLength;
  if (body === undefined || body === null) return 4;
  if (typeof body !== 'object') return 24;
  let size = 2;
  for (const key in body) {
    const value = (body as Record<string, unknown>)[key];
    size += key.length + 4;
    if (typeof value === 'string') size += value.length + 2;
    else if (typeof value === 'number' || typeof value === 'boolean') size += 24;
    else if (value !== undefined) size += stringifiedLength(value);
  }
  return size;
}

function stringifiedLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

/**
 * One timer for every coalescing stream of a bus: streams whose items fall due together are sent
 * from one timer callback, so their messages leave in one socket write rather than one each.
 */
export class CoalesceClock {
  private readonly due = new Set<Coalescer>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(private readonly maxDelayMs: number) {}

  /** Sends `c`'s items at `at` (ms, performance.now()) or a little sooner with others. */
  schedule(c: Coalescer, at: number): void {
    this.due.add(c);
    if (this.maxDelayMs === 0) {
      // The end of this turn: what the responders produce in it leaves together, no later.
      if (!this.turnArmed) {
        this.turnArmed = true;
        setImmediate(this.fireTurn);
      }
    } else if (this.timer === undefined || at < this.timerAt) this.arm(at);
  }

  private turnArmed = false;
  private readonly fireTurn = () => {
    this.turnArmed = false;
    this.fire();
  };

  cancel(c: Coalescer): void {
    this.due.delete(c);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - performance.now()));
  }

  private readonly fire = () => {
    this.timer = undefined;
    // Anything due within a quarter of the delay goes now too: a little early, in company.
    const cutoff = performance.now() + this.maxDelayMs / 4;
    let next = Infinity;
    for (const c of [...this.due]) {
      if (c.dueAt <= cutoff) {
        this.due.delete(c);
        c.flushFromClock();
      } else next = Math.min(next, c.dueAt);
    }
    if (next !== Infinity) this.arm(next);
  };
}

/** The items of one stream waiting to be sent together. */
export class Coalescer {
  private bodies: unknown[] = [];
  private bytes = 0;
  private lastSeq = 0;
  /** When the held items must go (performance.now() ms); Infinity when none are held. */
  dueAt = Infinity;
  private readonly limit: number;

  constructor(
    private readonly bus: BusContext,
    private readonly clock: CoalesceClock,
    private readonly request: Envelope,
    private readonly kind: string,
    private readonly options: ResolvedCoalesce,
  ) {
    this.limit = Math.min(options.maxChunks, request.batch ?? 1);
  }

  get pending(): number {
    return this.bodies.length;
  }

  /** Adds an item; sends at once when the message is full, else within maxDelayMs. */
  add(body: unknown, seq: number): void {
    const size = sizeOf(body);
    if (this.bodies.length > 0 && this.bytes + size > this.options.maxBytes) this.flush();
    this.bodies.push(body);
    this.bytes += size;
    this.lastSeq = seq;
    if (this.bodies.length >= this.limit || this.bytes >= this.options.maxBytes) this.flush();
    else if (this.dueAt === Infinity) {
      this.dueAt = performance.now() + this.options.maxDelayMs;
      this.clock.schedule(this, this.dueAt);
    }
  }

  /** @internal The clock's turn: a failure has no caller to go to. */
  flushFromClock(): void {
    this.dueAt = Infinity;
    if (this.bus.closing.aborted) {
      this.discard(); // the bus closed under a running stream: its reader is gone too
      return;
    }
    try {
      this.flush();
    } catch (err) {
      this.bus.reportError(err, this.request);
    }
  }

  /** Sends what is pending: one item as a plain chunk, several as one coalesced message. */
  flush(): void {
    if (this.dueAt !== Infinity) {
      this.dueAt = Infinity;
      this.clock.cancel(this);
    }
    const n = this.bodies.length;
    if (n === 0) return;
    const bodies = this.bodies;
    this.bodies = [];
    this.bytes = 0;
    const extra = n === 1 ? { seq: this.lastSeq } : { seq: this.lastSeq, items: n };
    this.bus.send(
      this.bus.replyEnvelope(this.request, this.kind, n === 1 ? bodies[0] : bodies, extra),
    );
  }

  /** Drops what is pending (the stream was cancelled). */
  discard(): void {
    if (this.dueAt !== Infinity) this.clock.cancel(this);
    this.dueAt = Infinity;
    this.bodies = [];
    this.bytes = 0;
  }
}
