// Dispatch with failover: picks a worker with the model's routing policy and streams its answer.
// A worker lost before its first token is replaced without the client knowing; one lost after
// tokens were sent is replaced by a worker that continues from what was already sent (the
// request's `continue_from`, `continue_reasoning` and `continue_tool_calls`), so the client sees
// no duplicated and no missing text, reasoning or tool-call arguments; when no
// worker can continue, the stream ends with `worker_lost` (retryable). A worker whose subject
// has no responders is dropped from the registry at once. A request every worker refused as
// `overloaded` before its first token is tried again after a pause, until `waitUntil`.
import type { Bus, RequestOptions } from '../../bus/index.js';
import {
  SpanKind,
  traceFields,
  TraceSpan,
  type Logger,
  type TraceContext,
  type Tracer,
} from '../../ops/index.js';
import {
  CancelledError,
  isParamsTarget,
  NoRouteError,
  NotFoundError,
  UnavailableError,
  WireError,
  WorkerLostError,
  type EmbeddingRequest,
  type EmbeddingResult,
  type InferenceRequest,
  type InferenceResult,
} from '../../protocol/index.js';
import { AnswerJoiner } from '../answer.js';
import type { TokenDelta } from '../backends/backend.js';
import type { RoutingPolicy, RouteContext } from '../routing/policy.js';
import { prefixBlockHashes, promptText } from '../routing/prefix.js';
import {
  continuation,
  isFailover,
  isGone,
  isRefusedContinuation,
  pauseForWorkers,
} from './failover.js';
import { IdleClock } from './idle-clock.js';
import type { AttemptEvents } from './observation.js';
import type { WorkerEntry, WorkerRegistry } from './registry.js';

/** The bus options of one attempt: the call's deadline, tenant, priority, id and trace. */
function attemptOptions(
  kind: 'inference.request' | 'embedding.request',
  call: CallOptions,
  worker: WorkerEntry,
  span: TraceSpan,
  signal: AbortSignal,
): RequestOptions {
  return {
    kind,
    deadline: call.deadline,
    signal,
    tenant: call.tenant,
    prio: call.prio,
    corr: call.requestId,
    ...(worker.source === undefined ? {} : { from: worker.source }),
    ...traceFields(span.context),
  };
}

export interface DispatchOptions {
  bus: Bus;
  registry: WorkerRegistry;
  /** The policy for a model (one per model, or one for all). */
  policyFor: (model: string) => RoutingPolicy;
  /** Most workers tried for one request. Default 3. */
  maxAttempts?: number;
  /** A stream with no message from its worker for this long counts the worker as lost. Default 30 s. */
  idleTimeoutMs?: number;
  /** Records a span per attempt when given. */
  tracer?: Tracer;
  /** Picks the version of a gradual params rollout for requests that pin none. */
  rollouts?: { choose(model: string): string };
}

export interface CallOptions {
  requestId: string;
  tenant: string;
  prio: number;
  deadline: number;
  signal: AbortSignal;
  sessionKey?: string | undefined;
  /** The gateway request's span: each attempt is a child span, sent on the bus request. */
  trace?: TraceContext | undefined;
  /** Where failovers are logged. */
  log?: Logger | undefined;
  /** Sees workers picked, tokens and failovers of this request. */
  observe?: AttemptEvents | undefined;
  /**
   * When every worker refuses the request as `overloaded` before its first token, they are all
   * tried again after a pause (50 ms, doubling up to 1 s) until this time (ms epoch), and then
   * it fails with `overloaded`; unset, it fails at once with `worker_lost`. Their slots were
   * counted free when the request was admitted: another gateway's requests, admitted on a view
   * of the demand a heartbeat old, hold them (routing/shared-slots.ts).
   */
  waitUntil?: number | undefined;
}

export class Dispatcher {
  private readonly maxAttempts: number;
  constructor(private readonly options: DispatchOptions) {
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  /** Throws NotFoundError for a model no live worker serves (404 at the gateway). */
  checkModel(model: string): void {
    const { registry } = this.options;
    const t = registry.target(model);
    if (!registry.isModel(t.model)) {
      throw new NotFoundError(`model '${model}' is not served by any worker`, {
        details: { param: 'model' },
      });
    }
    if (isParamsTarget(t) && registry.serving(model).length === 0) {
      // The model is served, but no worker has loaded this adapter or version (llm/params).
      throw new NoRouteError(
        `no worker holds '${model}': push it with 'llmwire params push' or wait for the workers to load it`,
        {
          details: {
            param: 'model',
            model: t.model,
            ...(t.adapter === undefined ? {} : { adapter: t.adapter }),
            ...(t.version === undefined ? {} : { version: t.version }),
          },
        },
      );
    }
  }

  /** The request as dispatched: its model pinned to a version when a rollout picks one. */
  private routed<R extends { model: string }>(request: R): R {
    const model = this.options.rollouts?.choose(request.model) ?? request.model;
    return model === request.model ? request : { ...request, model };
  }

  private pick(
    model: string,
    ctx: RouteContext,
    excluded: Set<string>,
    serves: 'chat' | 'embeddings' = 'chat',
  ): WorkerEntry {
    const all = this.options.registry
      .forModel(model)
      .filter((w) => !excluded.has(w.id) && w.serves.includes(serves));
    if (all.length === 0) {
      throw new UnavailableError(`no worker available for model '${model}'`);
    }
    const withRoom = all.filter((w) => w.inflight < w.capacity);
    const chosen = this.options.policyFor(model).pick(withRoom.length > 0 ? withRoom : all, ctx);
    if (chosen === undefined)
      throw new UnavailableError(`no worker available for model '${model}'`);
    return chosen as WorkerEntry;
  }

  /** The span of one attempt: a child of the gateway's request span. */
  private span(worker: WorkerEntry, attempt: number, call: CallOptions): TraceSpan {
    return TraceSpan.start(this.options.tracer, 'dispatch', call.trace, SpanKind.PRODUCER, {
      'llmwire.worker': worker.id,
      'llmwire.attempt': attempt + 1,
    });
  }

  private logFailover(
    call: CallOptions,
    worker: WorkerEntry,
    attempt: number,
    err: unknown,
    sentChars: number,
  ): void {
    call.log?.warn(
      {
        worker: worker.id,
        attempt: attempt + 1,
        error: err instanceof WireError ? err.code : 'unknown',
        sentChars,
      },
      'failover: trying another worker',
    );
  }

  /**
   * Streams a chat/completion answer in batches of deltas (those that arrived together);
   * returns the whole result, every delta joined in.
   */
  async *chat(
    asked: InferenceRequest,
    call: CallOptions,
  ): AsyncGenerator<TokenDelta[], InferenceResult> {
    const { bus, registry } = this.options;
    const request = this.routed(asked);
    let hashes: string[] | undefined;
    const ctx: RouteContext = {
      request,
      // Hashed only for a policy that reads them (prefix affinity), once.
      get prefixHashes() {
        return (hashes ??= prefixBlockHashes(promptText(request)));
      },
      sessionKey: call.sessionKey ?? request.user,
    };
    const excluded = new Set<string>();
    const sent = new AnswerJoiner();
    let lastError: unknown;
    let yielded = false;
    let onlyOverloaded = true;
    for (let round = 0; ; round++) {
      for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
        if (call.signal.aborted) throw new CancelledError('client went away');
        let worker: WorkerEntry;
        try {
          worker = this.pick(request.model, ctx, excluded);
        } catch (err) {
          if (attempt === 0) throw err;
          break;
        }
        const observe = call.observe;
        observe?.attempt(worker.id);
        registry.track(worker.id, +1);
        const body = continuation(request, sent);
        const span = this.span(worker, attempt, call);
        // The address the worker announced (kept only under its own subjects), else its chat
        // subject. The stream ends itself when the client goes away (call.signal), and is
        // cancelled here when its worker is lost or goes quiet.
        const stream = bus.stream<TokenDelta, InferenceResult>(
          worker.address,
          body,
          attemptOptions('inference.request', call, worker, span, call.signal),
        );
        let lost = false;
        const abandon = (why: string) => {
          lost = true;
          stream.cancel(why);
        };
        const stopWatching = registry.on((e) => {
          if (e.type === 'lost' && e.worker.id === worker.id) abandon('worker lost');
        });
        const idle = new IdleClock(this.options.idleTimeoutMs ?? 30_000, () => {
          registry.markLost(worker.id);
          abandon('worker went quiet');
        });
        try {
          for await (const deltas of stream.batches()) {
            idle.pause();
            for (const delta of deltas) sent.add(delta);
            observe?.tokens(deltas.length);
            yielded = true;
            yield deltas;
            idle.resume();
          }
          const result = await stream.result;
          if (result === undefined)
            throw new WorkerLostError('worker ended the stream without a result');
          span.end();
          return sent.result(result);
        } catch (err) {
          if (call.signal.aborted) {
            span.end(new CancelledError('client went away'));
            throw new CancelledError('client went away');
          }
          const failed = lost ? new WorkerLostError(`worker ${worker.id} was lost`) : err;
          span.end(failed);
          if (isGone(failed)) registry.markLost(worker.id);
          if (attempt > 0 && body !== request && isRefusedContinuation(failed)) {
            // The request was fine; the worker that took over cannot carry on what a lost one
            // began (a backend that cannot continue tool calls, say). The client may retry.
            throw new WorkerLostError(
              `a worker was lost mid-answer and ${worker.id} could not continue it: ${(failed as WireError).message}`,
              { details: { sentChars: sent.text.length, cause: 'continuation_refused' } },
            );
          }
          if (!isFailover(failed)) throw failed;
          observe?.failover(worker.id, (failed as WireError).code);
          if ((failed as WireError).code !== 'overloaded') onlyOverloaded = false;
          lastError = failed;
          excluded.add(worker.id);
          this.logFailover(call, worker, attempt, failed, sent.text.length);
        } finally {
          idle.stop();
          stopWatching();
          registry.track(worker.id, -1);
        }
      }
      // Every worker refused it as overloaded before its first token: their slots will free.
      if (yielded || !onlyOverloaded || call.waitUntil === undefined) break;
      await pauseForWorkers(request.model, round, call);
      excluded.clear();
    }
    throw new WorkerLostError('no worker could finish the request', {
      details: {
        sentChars: sent.text.length,
        cause: lastError instanceof WireError ? lastError.code : 'unknown',
      },
    });
  }

  async embed(asked: EmbeddingRequest, call: CallOptions): Promise<EmbeddingResult> {
    const request = this.routed(asked);
    const excluded = new Set<string>();
    const ctx: RouteContext = {
      request: { model: request.model, prompt: '' },
      prefixHashes: [],
      sessionKey: undefined,
    };
    let lastError: unknown;
    let onlyOverloaded = true;
    for (let round = 0; ; round++) {
      for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
        let worker: WorkerEntry;
        try {
          worker = this.pick(request.model, ctx, excluded, 'embeddings');
        } catch (err) {
          if (attempt === 0) throw err;
          break;
        }
        call.observe?.attempt(worker.id);
        this.options.registry.track(worker.id, +1);
        const span = this.span(worker, attempt, call);
        try {
          const reply = await this.options.bus.request<EmbeddingResult>(
            this.options.registry.subjects.embed(worker.id),
            request,
            attemptOptions('embedding.request', call, worker, span, call.signal),
          );
          span.end();
          return reply.body;
        } catch (err) {
          span.end(err);
          if (isGone(err)) this.options.registry.markLost(worker.id);
          if (!isFailover(err)) throw err;
          call.observe?.failover(worker.id, (err as WireError).code);
          if ((err as WireError).code !== 'overloaded') onlyOverloaded = false;
          lastError = err;
          excluded.add(worker.id);
          this.logFailover(call, worker, attempt, err, 0);
        } finally {
          this.options.registry.track(worker.id, -1);
        }
      }
      if (!onlyOverloaded || call.waitUntil === undefined) break;
      await pauseForWorkers(request.model, round, call);
      excluded.clear();
    }
    throw lastError instanceof Error ? lastError : new WorkerLostError('no worker could answer');
  }
}
