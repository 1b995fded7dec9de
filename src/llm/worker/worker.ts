// The worker runtime: hosts one backend on the bus with a concurrency limit, announces itself
// by heartbeat (models, capacity, load, cached prefix blocks), streams completions with
// cancellation through to the model call, and drains on request (finishes what it has, takes
// nothing new).
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Bus } from '../../bus/index.js';
import type { Message } from '../../bus/message.js';
import type { HandlerContext } from '../../bus/options.js';
import type { Subscription } from '../../bus/subscription.js';
import {
  contextOf,
  silentLogger,
  SpanKind,
  TraceSpan,
  type Logger,
  type Tracer,
} from '../../ops/index.js';
import {
  ConfigError,
  optionsCheck,
  OverloadedError,
  toWireError,
  UnavailableError,
  WorkerLostError,
  type EmbeddingRequest,
  type Heartbeat,
  type InferenceRequest,
  type InferenceResult,
} from '../../protocol/index.js';
import type { Backend, ParamsUse, TokenDelta } from '../backends/backend.js';
import { ParamsHolder } from '../params/holder.js';
import { isValidWorkerId, llmSubjects, type LlmSubjects } from '../subjects.js';
import { GatewayWatch } from '../gateway-presence.js';
import { wholeAnswer } from './whole.js';

export interface WorkerOptions {
  bus: Bus;
  backend: Backend;
  /** Unique among workers; default a random id. */
  id?: string;
  /** Requests run at once. Default 16. */
  concurrency?: number;
  /** Heartbeat period in ms. Default 1000. */
  heartbeatMs?: number;
  /** Puts the worker's subjects under `NAME.` (see subjects.ts); only gateways of the same namespace see it. */
  namespace?: string;
  /** Sees every request and heartbeat (e.g. WorkerMetrics from llmwire/ops). */
  observer?: WorkerObserver;
  /** Structured logs (docs/tracing.md); default none. */
  logger?: Logger;
  /** Records a span per request when given; trace context travels either way. */
  tracer?: Tracer;
  /**
   * Params rollouts (llm/params): where versions are downloaded and how many per model and
   * adapter stay loaded. On by default for a backend that can load params; `false` turns it off.
   */
  params?: { dir?: string; keepVersions?: number } | false;
}

/** What metrics see of a worker: each request's tokens and end, and each heartbeat. */
export interface WorkerObserver {
  request(worker: string, model: string): WorkerRequestObserver;
  heartbeat(hb: Heartbeat): void;
}

export interface WorkerRequestObserver {
  token(): void;
  end(
    outcome: 'completed' | 'failed' | 'cancelled',
    usage?: { prompt_tokens?: number; completion_tokens?: number },
  ): void;
}

export interface WorkerStats {
  inflight: number;
  completed: number;
  failed: number;
  cancelled: number;
  tokens: number;
}

export type WorkerState = 'ready' | 'draining' | 'stopped';

/** The worker's own numbers; bus, backend, observer, logger and tracer are objects it uses. */
const checkOptions = optionsCheck(
  'worker',
  Type.Object({
    concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
    heartbeatMs: Type.Optional(Type.Number({ minimum: 10 })),
  }),
);

export class Worker {
  readonly id: string;
  readonly concurrency: number;
  readonly heartbeatMs: number;
  private readonly bus: Bus;
  private readonly backend: Backend;
  private readonly subjects: LlmSubjects;
  private readonly observer: WorkerObserver | undefined;
  private readonly log: Logger;
  private readonly tracer: Tracer | undefined;
  /** The params versions this worker holds; undefined when rollouts are off. */
  readonly params: ParamsHolder | undefined;
  /** Gateways' liveness: generations of a gateway that went away are stopped. */
  private readonly gateways: GatewayWatch;
  private subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private state_: WorkerState = 'stopped';
  private idle: (() => void) | undefined;
  readonly stats: WorkerStats = { inflight: 0, completed: 0, failed: 0, cancelled: 0, tokens: 0 };

  constructor(options: WorkerOptions) {
    this.id = options.id ?? `w-${randomBytes(5).toString('hex')}`;
    if (!isValidWorkerId(this.id)) {
      throw new ConfigError(`worker id '${this.id}' must be 1-64 letters, digits, '_' or '-'`);
    }
    checkOptions(options);
    this.concurrency = options.concurrency ?? 16;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.bus = options.bus;
    this.backend = options.backend;
    this.subjects = llmSubjects(options.namespace);
    this.observer = options.observer;
    this.tracer = options.tracer;
    this.log = (options.logger ?? silentLogger).child({ worker: this.id });
    this.gateways = new GatewayWatch(this.bus, this.subjects, (gateway, stopped) =>
      this.log.warn({ gateway, stopped }, 'requesting gateway gone: its generations stopped'),
    );
    this.params =
      options.params === false || this.backend.loadParams === undefined
        ? undefined
        : new ParamsHolder({
            bus: this.bus,
            backend: this.backend,
            worker: this.id,
            namespace: options.namespace,
            dir: options.params?.dir,
            keepVersions: options.params?.keepVersions,
            onChange: () => this.beat(),
            logger: this.log,
          });
  }

  get state(): WorkerState {
    return this.state_;
  }

  async start(): Promise<void> {
    if (this.state_ !== 'stopped') return;
    this.state_ = 'ready';
    this.subs = [
      this.bus.serve(
        this.subjects.chat(this.id),
        (req, ctx) => {
          const msg = req as Message<InferenceRequest>;
          // No `credit`: the requester asked for one `inference.result`, not a stream.
          const result = req.envelope.credit === undefined;
          // Without `stream: true` the requester joins the chunks itself (the gateway does for
          // a client that did not ask for a stream): the backend may answer in one piece.
          const whole = result || msg.body.stream !== true;
          const answer = this.chat(msg, ctx, whole);
          return result ? wholeAnswer(answer) : answer;
        },
        {
          kinds: ['inference.request'],
        },
      ),
      this.bus.serve(
        this.subjects.embed(this.id),
        (req, ctx) => this.embed(req as Message<EmbeddingRequest>, ctx.signal),
        {
          kinds: ['embedding.request'],
        },
      ),
    ];
    await Promise.all([...this.subs.map((s) => s.ready), this.gateways.start()]);
    await this.params?.start();
    this.beat();
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
    this.log.info(
      { models: this.backend.models(), backend: this.backend.kind, capacity: this.concurrency },
      'worker started',
    );
  }

  /** Stops taking new requests, waits up to `timeoutMs` for running ones, then stops. */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.state_ !== 'ready') return;
    this.state_ = 'draining';
    this.log.info({ inflight: this.stats.inflight }, 'worker draining');
    this.beat();
    if (this.stats.inflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
      // The last request's final message is sent just after its handler returns: let it go
      // out before the 'stopped' heartbeat, which tells routers this worker is gone.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.state_ === 'stopped') return;
    this.state_ = 'stopped';
    clearInterval(this.timer);
    this.gateways.stop();
    this.params?.stop();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.beat(true);
    await this.backend.close?.();
    this.log.info({ ...this.stats }, 'worker stopped');
  }

  heartbeat(): Heartbeat {
    const hb: Heartbeat = {
      worker: this.id,
      status: this.state_,
      models: this.backend.models(),
      capacity: this.concurrency,
      inflight: this.stats.inflight,
      intervalMs: this.heartbeatMs,
      address: this.subjects.chat(this.id),
      serves: this.backend.embed === undefined ? ['chat'] : ['chat', 'embeddings'],
    };
    const prefixes = this.backend.cachedPrefixes?.();
    if (prefixes !== undefined) hb.prefixHashes = prefixes.slice(-65_536);
    const held = this.params?.list();
    if (held !== undefined && held.length > 0) hb.params = held.slice(-1024);
    return hb;
  }

  private beat(force = false): void {
    if (this.state_ === 'stopped' && !force) return;
    try {
      const hb = this.heartbeat();
      this.bus.publish(this.subjects.heartbeat(this.id), hb, { kind: 'heartbeat' });
      this.observer?.heartbeat(hb);
    } catch (err) {
      this.bus.reportError(err);
    }
  }

  /** The backend's model and the params version a request's model names (llm/params). */
  private target(model: string): { model: string; use?: ParamsUse } {
    if (this.backend.models().includes(model)) return { model };
    const found = this.params?.resolve(model);
    if (found === undefined) {
      throw new UnavailableError(`worker ${this.id} does not serve model '${model}'`);
    }
    return found;
  }

  private admit(model: string): { model: string; use?: ParamsUse } {
    if (this.state_ !== 'ready') {
      throw new UnavailableError(`worker ${this.id} is ${this.state_}`, {
        details: { worker: this.id },
      });
    }
    if (this.stats.inflight >= this.concurrency) {
      throw new OverloadedError(`worker ${this.id} is at its concurrency limit`, {
        details: { worker: this.id },
      });
    }
    return this.target(model);
  }

  private done(outcome: 'completed' | 'failed' | 'cancelled'): void {
    this.stats.inflight--;
    this.stats[outcome]++;
    if (this.stats.inflight === 0) this.idle?.();
  }

  /** The span of one request, under the trace its envelope carries. */
  private span(msg: Message<{ model: string }>): TraceSpan {
    return TraceSpan.start(
      this.tracer,
      'worker handle',
      contextOf(msg.envelope),
      SpanKind.CONSUMER,
      {
        'llmwire.worker': this.id,
        'gen_ai.request.model': msg.body.model,
      },
    );
  }

  /** The finished line of one request; also ends its span. */
  private finished(
    msg: Message,
    span: TraceSpan,
    started: number,
    fields: Record<string, unknown>,
    error?: unknown,
  ): void {
    span.end(error);
    const log = this.log;
    if (!log.isLevelEnabled('info')) return;
    const line: Record<string, unknown> = {
      requestId: msg.envelope.corr,
      traceId: span.traceId,
      kind: msg.kind,
      model: (msg.body as { model?: unknown }).model,
      durationMs: Date.now() - started,
      ...fields,
    };
    if (error !== undefined) line.error = toWireError(error).code;
    log.info(line, 'request done');
  }

  private async *chat(
    msg: Message<InferenceRequest>,
    ctx: HandlerContext,
    whole: boolean,
  ): AsyncGenerator<TokenDelta, InferenceResult> {
    const request = msg.body;
    const signal = ctx.signal;
    const target = this.admit(request.model);
    this.stats.inflight++;
    // A gateway that went quiet is most likely dead; should it be alive after all, worker_lost
    // has it move the stream to another worker as for any lost worker.
    const untie = this.gateways.track(msg.envelope.replyTo, (reason) =>
      ctx.abort(new WorkerLostError(`worker ${this.id} stopped the generation: ${reason}`)),
    );
    const observe = this.observer?.request(this.id, request.model);
    let usage: InferenceResult['usage'] | undefined;
    const started = Date.now();
    const span = this.span(msg);
    let outcome: 'completed' | 'failed' | 'cancelled' = 'failed';
    let failure: unknown;
    let tokens = 0;
    let ttftMs: number | undefined;
    // The text travels in the chunks; the final result of a stream carries none of it again
    // (docs/protocol.md, inference.result), so nothing here holds the whole answer.
    try {
      const gen = this.backend.generate(
        target.use === undefined ? request : { ...request, model: target.model },
        {
          signal,
          trace: { context: span.context, tracer: this.tracer },
          ...(target.use === undefined ? {} : { params: target.use }),
          whole,
        },
      );
      for (;;) {
        const step = await gen.next();
        if (step.done === true) {
          outcome = 'completed';
          usage = step.value.usage;
          span.set({
            'gen_ai.usage.input_tokens': step.value.usage.prompt_tokens,
            'gen_ai.usage.output_tokens': step.value.usage.completion_tokens,
          });
          const result: InferenceResult = {
            model: request.model,
            text: '',
            finish_reason: step.value.finish_reason,
            usage: step.value.usage,
            worker: this.id,
          };
          if (step.value.stop_sequence !== undefined) {
            result.stop_sequence = step.value.stop_sequence;
          }
          return result;
        }
        const d = step.value;
        // An empty delta is a backend saying it is still at work on a whole answer: no token.
        if (
          d.text !== '' ||
          d.tool_calls !== undefined ||
          d.reasoning !== undefined ||
          d.refusal !== undefined
        ) {
          this.stats.tokens++;
          observe?.token();
          if (tokens++ === 0) ttftMs = Date.now() - started;
        }
        yield d;
      }
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      untie();
      if (outcome !== 'completed' && signal.aborted) outcome = 'cancelled';
      this.done(outcome);
      observe?.end(outcome, usage);
      this.finished(msg, span, started, { outcome, chunks: tokens, ttftMs }, failure);
    }
  }

  private async embed(msg: Message<EmbeddingRequest>, signal: AbortSignal) {
    const request = msg.body;
    if (this.backend.embed === undefined) {
      throw new UnavailableError(`worker ${this.id} (${this.backend.kind}) has no embeddings`);
    }
    const target = this.admit(request.model);
    this.stats.inflight++;
    const observe = this.observer?.request(this.id, request.model);
    const started = Date.now();
    const span = this.span(msg);
    try {
      const result = await this.backend.embed(
        target.use === undefined ? request : { ...request, model: target.model },
        {
          signal,
          trace: { context: span.context, tracer: this.tracer },
          ...(target.use === undefined ? {} : { params: target.use }),
        },
      );
      this.done('completed');
      observe?.end('completed', result.usage);
      this.finished(msg, span, started, { outcome: 'completed' });
      return result;
    } catch (err) {
      const outcome = signal.aborted ? 'cancelled' : 'failed';
      this.done(outcome);
      observe?.end(outcome);
      this.finished(msg, span, started, { outcome }, err);
      throw err;
    }
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
