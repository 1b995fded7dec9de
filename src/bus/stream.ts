// Streamed replies with credit-based flow control (docs/protocol.md, "Streams"). The requester
// grants credit in the request (`credit`) and then in `control.credit` messages as its reader
// consumes; the responder sends a chunk only while it holds credit, so a slow reader slows the
// writer and neither side buffers more than the window. Cancelling the reader sends
// `control.cancel`, which fires the responder handler's AbortSignal.
import {
  CancelledError,
  DeadlineExceededError,
  errorFromWire,
  InvalidMessageError,
  toWireError,
  WorkerLostError,
  type Envelope,
  type WireError,
} from '../protocol/index.js';
import type { Bus, RequestOptions, ServeHandler, ServeOptions } from './bus.js';
import type { DeadlineHandle } from './deadlines.js';
import { replyKindFor, type Message } from './message.js';

export interface ResponseStream<C, R = unknown> extends AsyncIterable<C> {
  /** The request's message id. */
  readonly id: string;
  /** Resolves with the final message's body once the stream has been read to its end. */
  readonly result: Promise<R | undefined>;
  /** Stops the stream and tells the responder to stop. */
  cancel(reason?: string): void;
}

const STREAM_OPEN = 'stream.open';
const STREAM_END = 'stream.end';
const YIELD_EVERY = 32;

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function isEvent(env: Envelope, type: string): boolean {
  return env.kind === 'event' && (env.body as { type?: unknown } | undefined)?.type === type;
}

class ClientStream<C, R> implements ResponseStream<C, R> {
  readonly id: string;
  private readonly buffer: Envelope[] = [];
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
    private readonly bus: Bus,
    private readonly owner: StreamClient,
    private readonly env: Envelope,
    private readonly window: number,
    private readonly signal: AbortSignal | undefined,
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
    if (env.seq !== this.expectSeq) {
      this.fail(
        new WorkerLostError(
          `stream lost messages: expected seq ${this.expectSeq}, got ${String(env.seq)}`,
        ),
        true,
      );
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
    this.buffer.push(env);
    this.wake?.();
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

  async *[Symbol.asyncIterator](): AsyncIterator<C> {
    const half = Math.max(1, Math.ceil(this.window / 2));
    try {
      for (;;) {
        const next = this.buffer.shift();
        if (next !== undefined) {
          this.consumed++;
          if (this.consumed >= half) this.grant();
          yield next.body as C;
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
  constructor(private readonly bus: Bus) {}

  open<C, R>(
    subject: string,
    body: unknown,
    options: RequestOptions & { credit?: number },
  ): ResponseStream<C, R> {
    const { timeoutMs, signal, credit, ...publishOptions } = options;
    const window = credit ?? this.bus.streamCredit;
    const deadline = options.deadline ?? Date.now() + (timeoutMs ?? this.bus.defaultTimeoutMs);
    const env = this.bus.envelope(subject, body, {
      ...publishOptions,
      deadline,
      replyTo: this.bus.inbox,
      credit: window,
    });
    const stream = new ClientStream<C, R>(this.bus, this, env, window, signal);
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

interface Served {
  credit: number;
  wake: (() => void) | undefined;
  abort: AbortController;
}

/** The responder side: runs handlers and pumps their output within the credit granted. */
export class StreamServer {
  private readonly served = new Map<string, Served>();
  constructor(readonly bus: Bus) {}

  onControl(env: Envelope): void {
    const state = this.served.get(env.corr!);
    if (state === undefined) return;
    if (env.kind === 'control.cancel') {
      const reason =
        (env.body as { reason?: string } | undefined)?.reason ?? 'cancelled by requester';
      state.abort.abort(new CancelledError(reason));
      state.wake?.();
    } else {
      const credits = (env.body as { credits?: unknown } | undefined)?.credits;
      if (typeof credits !== 'number' || !Number.isInteger(credits) || credits < 1) return;
      state.credit += credits;
      state.wake?.();
    }
  }

  handle(msg: Message, handler: ServeHandler, options: ServeOptions): void {
    const env = msg.envelope;
    if (env.deadline !== undefined && env.deadline <= Date.now()) {
      msg.respondError(new DeadlineExceededError('request arrived after its deadline'));
      return;
    }
    const streaming = env.credit !== undefined && env.replyTo !== undefined;
    const call = new HandlerCall(this, env);
    if (streaming) {
      const state: Served = { credit: env.credit!, wake: undefined, abort: call.controller() };
      this.served.set(env.id, state);
      this.sendOpen(env);
      const finish = () => {
        call.done();
        this.served.delete(env.id);
      };
      let result: unknown;
      try {
        result = handler(msg, call);
      } catch (err) {
        this.sendError(msg, err, true, state.abort.signal);
        finish();
        return;
      }
      if (isAsyncIterable(result)) {
        void this.pump(msg, result, state, options).finally(finish);
        return;
      }
      Promise.resolve(result)
        .then((value) => {
          if (!call.cancelled) this.sendFinal(env, value, options, 1);
        })
        .catch((err: unknown) => this.sendError(msg, err, true, state.abort.signal))
        .finally(finish);
      return;
    }
    let result: unknown;
    try {
      result = handler(msg, call);
    } catch (err) {
      call.done();
      msg.respondError(err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value: unknown) => {
          call.done();
          if (!call.cancelled) msg.respond(value, this.replyOptions(env.kind, options));
        },
        (err: unknown) => {
          call.done();
          if (!call.cancelled) msg.respondError(err);
        },
      );
      return;
    }
    call.done();
    if (isAsyncIterable(result)) {
      msg.respondError(
        new InvalidMessageError('handler streams, but the request did not ask for a stream'),
      );
      return;
    }
    msg.respond(result, this.replyOptions(env.kind, options));
  }

  private readonly replyKinds = new Map<string, { kind: string }>();

  private replyOptions(kind: string, options: ServeOptions): { kind: string } {
    let cached = this.replyKinds.get(options.replyKind ?? kind);
    if (cached === undefined) {
      cached = { kind: options.replyKind ?? replyKindFor(kind) };
      if (this.replyKinds.size < 1000) this.replyKinds.set(options.replyKind ?? kind, cached);
    }
    return cached;
  }

  /** Calls whose handler holds an AbortSignal: aborted when the bus closes. */
  readonly active = new Set<HandlerCall>();

  abortAll(reason: unknown): void {
    for (const call of [...this.active]) call.abort(reason);
  }

  private sendOpen(env: Envelope): void {
    this.bus.send(
      this.bus.replyEnvelope(
        env,
        'event',
        { type: STREAM_OPEN },
        { seq: 0, replyTo: this.bus.inbox },
      ),
    );
  }

  private sendFinal(env: Envelope, value: unknown, options: ServeOptions, seq: number): void {
    const body = value === undefined ? { type: STREAM_END } : value;
    const kind = value === undefined ? 'event' : (options.replyKind ?? replyKindFor(env.kind));
    this.bus.send(this.bus.replyEnvelope(env, kind, body, { seq, eos: true }));
  }

  private sendError(msg: Message, err: unknown, streaming: boolean, signal: AbortSignal): void {
    if (signal.aborted && signal.reason instanceof CancelledError) return; // requester is gone
    const env = msg.envelope;
    if (!streaming) {
      msg.respondError(err);
      return;
    }
    try {
      this.bus.send(this.bus.replyEnvelope(env, 'error', toWireError(err).toWire(), { eos: true }));
    } catch (sendErr) {
      this.bus.reportError(sendErr, env);
    }
  }

  private async pump(
    msg: Message,
    items: AsyncIterable<unknown>,
    state: Served,
    options: ServeOptions,
  ): Promise<void> {
    const env = msg.envelope;
    const signal = state.abort.signal;
    const chunkKind =
      options.chunkKind ??
      (env.kind.endsWith('.request') ? `${env.kind.slice(0, -8)}.chunk` : 'event');
    const iterator = items[Symbol.asyncIterator]();
    let seq = 1;
    try {
      for (;;) {
        while (state.credit <= 0 && !signal.aborted) {
          await new Promise<void>((resolve) => (state.wake = resolve));
          state.wake = undefined;
        }
        if (signal.aborted) break;
        const step = await iterator.next();
        if (signal.aborted) break;
        if (step.done === true) {
          this.sendFinal(env, step.value, options, seq);
          return;
        }
        this.bus.send(this.bus.replyEnvelope(env, chunkKind, step.value, { seq: seq++ }));
        state.credit--;
        // A producer that never waits (a cached answer, a simulator) would otherwise keep the
        // whole chain in microtasks and starve timers: heartbeats, deadlines, other streams.
        if (seq % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (signal.reason instanceof DeadlineExceededError)
        this.sendError(msg, signal.reason, true, signal);
    } catch (err) {
      this.sendError(msg, err, true, signal);
    } finally {
      if (signal.aborted) await iterator.return?.().catch(() => undefined);
    }
  }
}

/**
 * The context of one handler run. Its AbortSignal is made only when the handler asks for it
 * (an AbortController and a deadline timer cost more than a whole in-process round trip), and
 * then fires on cancellation, on the request's deadline and on bus close.
 */
class HandlerCall {
  private abort_: AbortController | undefined;
  private timer: DeadlineHandle | undefined;
  private finished = false;

  constructor(
    private readonly server: StreamServer,
    private readonly env: Envelope,
  ) {}

  get signal(): AbortSignal {
    return this.controller().signal;
  }

  /** True once cancelled by the requester or the bus (a deadline still lets the error out). */
  get cancelled(): boolean {
    const signal = this.abort_?.signal;
    return (
      signal !== undefined && signal.aborted && !(signal.reason instanceof DeadlineExceededError)
    );
  }

  controller(): AbortController {
    if (this.abort_ === undefined) {
      this.abort_ = new AbortController();
      if (this.finished) return this.abort_;
      this.server.active.add(this);
      const deadline = this.env.deadline;
      if (deadline !== undefined) {
        this.timer = this.server.bus.deadlines.add(deadline, () =>
          this.abort(new DeadlineExceededError('request deadline passed while handling')),
        );
      }
    }
    return this.abort_;
  }

  abort(reason: unknown): void {
    this.controller().abort(reason);
  }

  done(): void {
    this.finished = true;
    if (this.abort_ === undefined) return;
    this.server.active.delete(this);
    if (this.timer !== undefined) this.server.bus.deadlines.cancel(this.timer);
  }
}
