// Streamed replies with credit-based flow control (docs/protocol.md, "Streams"), requester side
// (the responder side is serve.ts). The requester
// grants credit in the request (`credit`) and then in `control.credit` messages as its reader
// consumes; the responder sends a chunk only while it holds credit, so a slow reader slows the
// writer and neither side buffers more than the window. Cancelling the reader sends
// `control.cancel`, which fires the responder handler's AbortSignal.
import {
  CancelledError,
  DeadlineExceededError,
  errorFromWire,
  InvalidMessageError,
  MAX_BATCH_ITEMS,
  toWireError,
  WorkerLostError,
  type Envelope,
  type WireError,
} from '../protocol/index.js';
import type { BusContext } from './context.js';
import type { RequestOptions } from './options.js';
import type { DeadlineHandle } from './deadlines.js';

export interface ResponseStream<C, R = unknown> extends AsyncIterable<C> {
  /** The request's message id. */
  readonly id: string;
  /** Resolves with the final message's body once the stream has been read to its end. */
  readonly result: Promise<R | undefined>;
  /** Stops the stream and tells the responder to stop. */
  cancel(reason?: string): void;
  /**
   * The items in the arrays they arrived in since the last read: one await per arrival instead
   * of one per item (a coalesced message, or items that came in one turn). Read either this or
   * the stream itself, not both.
   */
  batches(): AsyncIterable<C[]>;
}

/** True when a reply may be taken as coming from `from` (see RequestOptions.from). */
export function fromExpected(from: string | undefined, env: Envelope): boolean {
  return (
    from === undefined || env.source === from || (env.source === undefined && env.kind === 'error')
  );
}

export const STREAM_OPEN = 'stream.open';
export const STREAM_END = 'stream.end';

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function isEvent(env: Envelope, type: string): boolean {
  return env.kind === 'event' && (env.body as { type?: unknown } | undefined)?.type === type;
}

class ClientStream<C, R> implements ResponseStream<C, R> {
  readonly id: string;
  /** Item bodies received and not yet read. */
  private buffer: unknown[] = [];
  private responder: string | undefined;
  private consumed = 0;
  private expectSeq = 1;
  private ended = false;
  private cancelRequested: string | undefined;
  private error: WireError | undefined;
  private final: R | undefined;
  private wake: (() => void) | undefined;
  private timer: DeadlineHandle | undefined;
  private endWaiters: (() => void)[] = [];

  constructor(
    private readonly bus: BusContext,
    private readonly owner: StreamClient,
    private readonly env: Envelope,
    private readonly window: number,
    private readonly signal: AbortSignal | undefined,
    private readonly from: string | undefined,
  ) {
    this.id = env.id;
    this.timer = bus.deadlines.add(env.deadline!, () =>
      this.fail(new DeadlineExceededError(`stream on '${env.subject}' passed its deadline`), true),
    );
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = () => this.fail(new CancelledError('stream was cancelled'), true);

  start(): void {
    if (this.signal?.aborted) {
      this.onAbort();
      return;
    }
    try {
      this.bus.send(this.env);
    } catch (err) {
      this.fail(toWireError(err), false);
    }
  }

  onMessage(env: Envelope): void {
    if (!fromExpected(this.from, env)) {
      this.bus.reportUnexpected(env, this.from);
      return;
    }
    if (env.seq === 0 && isEvent(env, STREAM_OPEN)) {
      this.responder = env.replyTo;
      if (this.cancelRequested !== undefined) {
        this.sendCancel(this.cancelRequested);
        if (this.ended) this.owner.forget(this.id);
      } else if (this.consumed > 0) this.grant();
      return;
    }
    if (this.ended) return;
    if (env.kind === 'error') {
      this.fail(errorFromWire(env.body), false);
      return;
    }
    if (env.items !== undefined) {
      this.onItems(env, env.items);
      return;
    }
    if (env.seq !== this.expectSeq) {
      this.lost(env.seq);
      return;
    }
    this.expectSeq++;
    if (env.eos === true) {
      this.final = isEvent(env, STREAM_END) ? undefined : (env.body as R);
      this.end();
      return;
    }
    if (this.buffer.length >= this.window) {
      this.fail(new InvalidMessageError('responder sent past its credit window'), true);
      return;
    }
    this.buffer.push(env.body);
    this.wake?.();
  }

  /** A coalesced message: `items` item bodies in an array, the last one's seq in `seq`. */
  private onItems(env: Envelope, items: number): void {
    const bodies = env.body;
    if (env.eos === true || !Array.isArray(bodies) || bodies.length !== items) {
      this.fail(new InvalidMessageError('coalesced message must carry `items` item bodies'), true);
      return;
    }
    const first = (env.seq ?? 0) - items + 1;
    if (first !== this.expectSeq) {
      this.lost(first);
      return;
    }
    if (this.buffer.length + items > this.window) {
      this.fail(new InvalidMessageError('responder sent past its credit window'), true);
      return;
    }
    this.expectSeq += items;
    for (const body of bodies) this.buffer.push(body);
    this.wake?.();
  }

  private lost(seq: number | undefined): void {
    this.fail(
      new WorkerLostError(
        `stream lost messages: expected seq ${this.expectSeq}, got ${String(seq)}`,
      ),
      true,
    );
  }

  private grant(): void {
    if (this.responder === undefined || this.consumed === 0) return;
    const credits = this.consumed;
    this.consumed = 0;
    this.control('control.credit', { credits });
  }

  private control(kind: string, body: unknown): void {
    if (this.responder === undefined) return;
    try {
      this.bus.send(this.bus.envelope(this.responder, body, { kind, corr: this.id }));
    } catch (err) {
      this.bus.reportError(err);
    }
  }

  private sendCancel(reason: string): void {
    this.control('control.cancel', { reason });
  }

  /** Ends the stream with an error; `tellResponder` sends control.cancel. */
  fail(error: WireError, tellResponder: boolean): void {
    if (this.ended) return;
    this.error = error;
    if (tellResponder) this.cancelUpstream(error.message);
    this.end();
  }

  private cancelUpstream(reason: string): void {
    if (this.responder !== undefined) this.sendCancel(reason);
    else this.cancelRequested = reason;
  }

  private end(): void {
    this.ended = true;
    if (this.timer !== undefined) this.bus.deadlines.cancel(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    // Keep listening briefly for a late stream.open so a cancel can still reach the responder.
    if (this.cancelRequested === undefined) this.owner.forget(this.id);
    else setTimeout(() => this.owner.forget(this.id), 5_000).unref();
    this.wake?.();
    for (const w of this.endWaiters) w();
    this.endWaiters = [];
  }

  cancel(reason = 'cancelled by reader'): void {
    this.fail(new CancelledError(reason), true);
  }

  get result(): Promise<R | undefined> {
    return new Promise<R | undefined>((resolve, reject) => {
      const settle = () =>
        this.error && this.error.code !== 'cancelled' ? reject(this.error) : resolve(this.final);
      if (this.ended) settle();
      else this.endWaiters.push(settle);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<C> {
    // Credit for each item as it is read: the reader never holds more than the window.
    return this.read(() => this.buffer.shift() as C);
  }

  batches(): AsyncIterable<C[]> {
    // Credit for a batch as it is handed over; its reader reads it before asking for the next.
    const take = () => {
      const items = this.buffer as C[];
      this.buffer = [];
      return items;
    };
    return { [Symbol.asyncIterator]: () => this.read(take) };
  }

  /** Hands out what `take` removes from the buffer, waiting for more while it is empty. */
  private async *read<T>(take: () => T): AsyncGenerator<T> {
    const half = Math.max(1, Math.ceil(this.window / 2));
    try {
      for (;;) {
        const held = this.buffer.length;
        if (held > 0) {
          const value = take();
          this.consumed += held - this.buffer.length;
          if (this.consumed >= half) this.grant();
          yield value;
          continue;
        }
        if (this.ended) {
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      if (!this.ended) this.cancel('reader stopped');
    }
  }
}

/** The requester side: open streams by request id. */
export class StreamClient {
  private readonly open_ = new Map<string, ClientStream<unknown, unknown>>();
  constructor(
    private readonly bus: BusContext,
    /** Credit window when the caller gives none. */
    private readonly credit: number,
    /** Request timeout when neither `timeoutMs` nor `deadline` is given. */
    private readonly timeoutMs: number,
  ) {}

  open<C, R>(
    subject: string,
    body: unknown,
    options: RequestOptions & { credit?: number },
  ): ResponseStream<C, R> {
    const { timeoutMs, signal, credit, from, ...publishOptions } = options;
    const window = credit ?? this.credit;
    const deadline = options.deadline ?? Date.now() + (timeoutMs ?? this.timeoutMs);
    const env = this.bus.envelope(subject, body, {
      ...publishOptions,
      deadline,
      replyTo: this.bus.inbox,
      credit: window,
      // This reader unpacks coalesced items (docs/protocol.md, "Coalesced items").
      batch: Math.min(MAX_BATCH_ITEMS, window),
    });
    const stream = new ClientStream<C, R>(this.bus, this, env, window, signal, from);
    this.open_.set(env.id, stream);
    stream.start();
    return stream;
  }

  onMessage(env: Envelope): void {
    this.open_.get(env.corr!)?.onMessage(env);
  }

  forget(id: string): void {
    this.open_.delete(id);
  }

  closeAll(): void {
    for (const s of [...this.open_.values()]) s.fail(new CancelledError('bus closed'), true);
  }
}
