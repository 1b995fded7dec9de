// The responder side of request/reply and streams (docs/protocol.md, "Streams"): runs a serve
// handler, replies or pumps its items within the credit the requester grants, and fires the
// handler's AbortSignal on control.cancel, on the request's deadline and on bus close.
import {
  CancelledError,
  DeadlineExceededError,
  InvalidMessageError,
  toWireError,
  WireError,
  type Envelope,
} from '../protocol/index.js';
import type { ServeHandler } from './api.js';
import { CoalesceClock, Coalescer, type ResolvedCoalesce } from './coalesce.js';
import type { BusContext } from './context.js';
import type { DeadlineHandle } from './deadlines.js';
import { replyKindFor, type Message } from './message.js';
import type { HandlerContext, ServeOptions } from './options.js';
import { isAsyncIterable, STREAM_END, STREAM_OPEN } from './stream.js';

/**
 * An abort reason the requester is told about: a WireError other than a cancel (a deadline, a
 * handler's own abort). A cancel came from the requester, a ClosedError from this bus closing.
 */
function answerable(reason: unknown): reason is WireError {
  return reason instanceof WireError && !(reason instanceof CancelledError);
}

/** A pump that has run this long without waiting lets timers and other streams in. */
const SLICE_MS = 4;

interface Served {
  credit: number;
  wake: (() => void) | undefined;
  abort: AbortController;
}

/** The responder side: runs handlers and pumps their output within the credit granted. */
export class StreamServer {
  private readonly served = new Map<string, Served>();
  private clock: CoalesceClock | undefined;
  constructor(
    readonly bus: BusContext,
    /** Chunk coalescing of the streams served; undefined when off. */
    private readonly coalesce: ResolvedCoalesce | undefined,
  ) {}

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
      // A pump waiting for credit wakes on every abort (cancel, deadline, bus close), so a
      // stream whose reader is gone ends at its deadline instead of holding its handler forever.
      state.abort.signal.addEventListener('abort', () => state.wake?.(), { once: true });
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
    if (signal.aborted) {
      if (!answerable(signal.reason)) return; // the requester or the bus is gone
      err = signal.reason; // what stopped the call says why, not what the handler threw then
    }
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
    const coalesce = this.coalesce;
    // Items go out together only when the reader said it unpacks them (`batch`).
    const coalescer =
      coalesce !== undefined && (env.batch ?? 1) > 1 && coalesce.maxChunks > 1
        ? new Coalescer(
            this.bus,
            (this.clock ??= new CoalesceClock(coalesce.maxDelayMs)),
            env,
            chunkKind,
            coalesce,
          )
        : undefined;
    let seq = 1;
    let sliceStart = performance.now();
    try {
      for (;;) {
        while (state.credit <= 0 && !signal.aborted) {
          // The reader returns credit only for items it has seen: send what is held first.
          coalescer?.flush();
          await new Promise<void>((resolve) => (state.wake = resolve));
          state.wake = undefined;
        }
        if (signal.aborted) break;
        const step = await iterator.next();
        if (signal.aborted) break;
        if (step.done === true) {
          coalescer?.flush();
          this.sendFinal(env, step.value, options, seq);
          return;
        }
        if (coalescer !== undefined) coalescer.add(step.value, seq++);
        else this.bus.send(this.bus.replyEnvelope(env, chunkKind, step.value, { seq: seq++ }));
        state.credit--;
        // A producer that never waits (a cached answer, a simulator) would otherwise keep the
        // whole chain in microtasks and starve timers: heartbeats, deadlines, other streams.
        if ((seq & 15) === 0 && performance.now() - sliceStart > SLICE_MS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
      coalescer?.discard();
      if (answerable(signal.reason)) this.sendError(msg, signal.reason, true, signal);
    } catch (err) {
      // Items the handler produced before it failed still reach the reader, then the error.
      if (!signal.aborted) {
        try {
          coalescer?.flush();
        } catch {
          // the error below says what went wrong
        }
      }
      coalescer?.discard();
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
class HandlerCall implements HandlerContext {
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

  /**
   * True once cancelled by the requester or the bus; an abort with a WireError (the deadline,
   * the handler's own abort) still lets that error out.
   */
  get cancelled(): boolean {
    const signal = this.abort_?.signal;
    return signal !== undefined && signal.aborted && !answerable(signal.reason);
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
