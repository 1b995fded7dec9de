// The gateway: the OpenAI HTTP API in front of the bus. Each call becomes bus messages to a
// worker picked by the routing policy; answers come back as OpenAI JSON or SSE.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type Logger } from '../../ops/index.js';
import {
  ConfigError,
  NotFoundError,
  toWireError,
  UnavailableError,
  type InferenceRequest,
  type InferenceResult,
} from '../../protocol/index.js';
import type { Dashboard, GatewayMetrics } from '../../ops/index.js';
import { AdmissionController, createPolicy, estimateTokens, type Lease } from '../routing/index.js';
import type { RoutingPolicy } from '../routing/policy.js';
import { IdentityTable } from '../security/identities.js';
import { API_ROLES, authMiddleware, checkModelAllowed, WATCH_ROLES } from './auth.js';
import { Cors } from './cors.js';
import { createHttpServer } from './http-server.js';
import { Dispatcher, type CallOptions } from './dispatch.js';
import {
  compose,
  readJson,
  sendError,
  sendJson,
  type Ctx,
  type ErrorShape,
  type Handler,
} from './http.js';
import { openaiFace, parseChat, parseCompletion, parseEmbedding } from './openai.js';
import type { ApiFace } from './face.js';
import {
  anthropicError,
  anthropicHeaders,
  inputTokens,
  messagesFace,
  parseCountTokens,
  parseMessages,
} from './messages/index.js';
import type { TokenDelta } from '../backends/backend.js';
import { limitStoreName, llmSubjects } from '../subjects.js';
import { GatewayPeers, GatewayPresence } from '../gateway-presence.js';
import { createObservability, logRegistry } from './observability.js';
import type { GatewayOptions } from './options.js';
import { listModels, listWorkers, readiness } from './info.js';
import { callOptions } from './headers.js';
import { RequestObservation, type ObservationSinks } from './observation.js';
import { WorkerRegistry } from './registry.js';
import { GatewayRollouts } from './rollouts.js';
import { SSE_READY, SseWriter } from './sse.js';
import { statusRoute } from './status.js';
import { processResponseRecords, ResponsesApi } from './responses/index.js';
import { BatchesApi, batchRoutes, processBatchRecords } from './batches/index.js';
import { httpsServerOptions } from '../../transport/tls.js';

export { parsePriority, parseTimeout } from './headers.js';

export type { GatewayOptions } from './options.js';

/** Paths whose requests metrics count, and the endpoint label of each. */
const ENDPOINTS: Record<string, string> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
  '/v1/embeddings': 'embedding',
  '/v1/responses': 'responses',
  '/v1/messages': 'messages',
};
/** Paths whose errors are not in OpenAI's error JSON, and the shape of theirs. */
const ERROR_SHAPES: Record<string, ErrorShape> = {
  '/v1/messages': anthropicError,
  '/v1/messages/count_tokens': anthropicError,
};
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** A path segment decoded; one with a malformed escape is kept as sent (it then matches nothing). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export class Gateway {
  readonly server: Server;
  readonly registry: WorkerRegistry;
  /** Params rollouts: the version unpinned requests go to, and each rollout's progress. */
  readonly rollouts: GatewayRollouts;
  readonly dispatcher: Dispatcher;
  readonly admission: AdmissionController;
  /** This gateway's heartbeats, by which workers stop its generations if it dies. */
  readonly presence: GatewayPresence;
  /** The other gateways on the bus, whose demand shares the models' slots with this one. */
  readonly peers: GatewayPeers;
  /** This gateway's metrics (its own prom-client Registry), when enabled. */
  readonly metrics: GatewayMetrics | undefined;
  readonly dashboard: Dashboard | undefined;
  private readonly observability: { close(): void };
  /** What every request's observation reports to. */
  private readonly sinks: ObservationSinks;
  private readonly options: Required<
    Pick<GatewayOptions, 'host' | 'port' | 'bodyLimitBytes' | 'defaultTimeoutMs'>
  > &
    GatewayOptions;
  private readonly policies = new Map<string, RoutingPolicy>();
  private readonly routes: Record<string, Handler>;
  /** Routes with `{name}` segments: their key, the pattern of their path, and its names. */
  private readonly templates: {
    key: string;
    method: string;
    path: string;
    re: RegExp;
    names: string[];
  }[] = [];
  readonly responses: ResponsesApi;
  /** The Batch API and the Files API under it (batches/). */
  readonly batches: BatchesApi;
  /** Path -> the methods it serves, for CORS preflights. */
  private readonly methods = new Map<string, string[]>();
  private readonly cors: Cors;
  private readonly log: Logger;

  constructor(options: GatewayOptions) {
    this.options = {
      host: '127.0.0.1',
      port: 8787,
      bodyLimitBytes: 4 * 1024 * 1024,
      defaultTimeoutMs: 120_000,
      ...options,
    };
    const { host } = this.options;
    const table = options.identities ?? IdentityTable.fromApiKeys(options.apiKeys);
    if (!LOOPBACK.has(host) && table.empty) {
      throw new ConfigError(
        `refusing to listen on ${host} without API keys: configure apiKeys or listen on 127.0.0.1`,
      );
    }
    const subjects = llmSubjects(options.namespace);
    this.registry = new WorkerRegistry(options.bus, 3, subjects);
    this.presence = new GatewayPresence(options.bus, subjects, 1000, () => this.admission.demand());
    this.log = options.logger ?? silentLogger;
    this.peers = new GatewayPeers(options.bus, subjects, this.presence.id, this.log, () =>
      this.admission.reshareAll(),
    );
    logRegistry(this.registry, this.log);
    this.rollouts = new GatewayRollouts(options.bus, this.registry, options.namespace, this.log);
    const defaultPolicy = options.routing?.policy ?? 'least-outstanding';
    const modelPolicies = options.routing?.models ?? {};
    this.dispatcher = new Dispatcher({
      bus: options.bus,
      registry: this.registry,
      rollouts: this.rollouts,
      ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
      maxAttempts: options.maxAttempts ?? 3,
      policyFor: (model) => {
        let policy = this.policies.get(model);
        if (policy === undefined) {
          policy = createPolicy(modelPolicies[model] ?? defaultPolicy);
          this.policies.set(model, policy);
        }
        return policy;
      },
    });
    const tenants: Record<
      string,
      { weight?: number; requestsPerMinute?: number; tokensPerMinute?: number }
    > = {};
    for (const { tenant: t } of table.identities()) {
      if (t === undefined) continue;
      tenants[t.name] = {
        ...(t.weight === undefined ? {} : { weight: t.weight }),
        ...(t.requestsPerMinute === undefined ? {} : { requestsPerMinute: t.requestsPerMinute }),
        ...(t.tokensPerMinute === undefined ? {} : { tokensPerMinute: t.tokensPerMinute }),
      };
    }
    const limitStore =
      options.limitStore === false
        ? undefined
        : (options.limitStore ?? options.bus.transport.limits?.(limitStoreName(options.namespace)));
    this.admission = new AdmissionController({
      tenants,
      ...(limitStore === undefined ? {} : { limitStore, logger: this.log }),
      ...(options.queue?.maxLength === undefined
        ? {}
        : { maxQueueLength: options.queue.maxLength }),
      ...(options.queue?.maxWaitMs === undefined
        ? {}
        : { maxQueueWaitMs: options.queue.maxWaitMs }),
      // Each model's slots are shared with the other gateways by what their tenants want.
      sharing: {
        self: this.presence.id,
        peers: (model) => this.peers.demand.wants(model),
        wantMoved: () => {
          if (this.peers.demand.size > 0) this.presence.nudge();
        },
      },
    });
    // Slots follow the registry: every join, loss, drain or change of a worker resets them.
    this.registry.on(() => this.refreshCapacity());
    // A worker that joins hears this gateway at once, so the generations it runs for it are tied
    // to its liveness even if it dies before its next heartbeat.
    this.registry.on((e) => {
      if (e.type === 'joined') this.presence.announce();
    });
    const obs = createObservability(options, this.registry, this.admission);
    this.metrics = obs.metrics;
    this.dashboard = obs.dashboard;
    this.observability = obs;
    this.sinks = {
      logger: this.log,
      tracer: options.tracer,
      observer: obs.observer,
      logBodies: options.logBodies === true,
    };
    this.responses = new ResponsesApi(
      this,
      options.responseStore ?? processResponseRecords(options.namespace),
      this.options.bodyLimitBytes,
      options.bus,
      llmSubjects(options.namespace).responseCancel,
    );
    this.batches = new BatchesApi(
      {
        bus: options.bus,
        admission: this.admission,
        dispatcher: this.dispatcher,
        records: options.batchStore ?? processBatchRecords(options.namespace),
        namespace: options.namespace,
        bodyLimitBytes: this.options.bodyLimitBytes,
        timeoutMs: this.options.defaultTimeoutMs,
        log: this.log,
      },
      options.batches,
    );
    const auth = authMiddleware(table, API_ROLES);
    const id = (ctx: Ctx) => ctx.params?.id ?? '';
    const watch = authMiddleware(table, WATCH_ROLES);
    // Metrics and the dashboard's feed are for operators and observers; the page itself holds
    // no data, and passes its own ?token= on to the feed.
    const watchRoutes: Record<string, Handler> = {};
    for (const [key, handler] of Object.entries(obs.routes)) {
      const open = key === 'GET /dashboard' || key === 'GET /';
      watchRoutes[key] = open
        ? handler
        : compose([authMiddleware(table, WATCH_ROLES, key === 'GET /dashboard/feed')], handler);
    }
    this.routes = {
      ...watchRoutes,
      'POST /v1/chat/completions': compose([auth], (ctx) => this.chat(ctx, 'chat')),
      'POST /v1/completions': compose([auth], (ctx) => this.chat(ctx, 'completion')),
      'POST /v1/embeddings': compose([auth], (ctx) => this.embeddings(ctx)),
      'POST /v1/responses': compose([auth], (ctx) => this.responses.create(ctx)),
      'GET /v1/responses/{id}': compose([auth], (ctx) => this.responses.retrieve(ctx, id(ctx))),
      'DELETE /v1/responses/{id}': compose([auth], (ctx) => this.responses.delete(ctx, id(ctx))),
      'POST /v1/responses/{id}/cancel': compose([auth], (ctx) =>
        this.responses.cancel(ctx, id(ctx)),
      ),
      'GET /v1/responses/{id}/input_items': compose([auth], (ctx) =>
        this.responses.inputItems(ctx, id(ctx)),
      ),
      ...batchRoutes(this.batches, (h) => compose([auth], h)),
      'POST /v1/messages': compose([anthropicHeaders, auth], (ctx) => this.messages(ctx, false)),
      'POST /v1/messages/count_tokens': compose([anthropicHeaders, auth], (ctx) =>
        this.messages(ctx, true),
      ),
      'GET /v1/models': compose([auth], async (ctx) => listModels(ctx, this.registry)),
      'GET /v1/llmwire/workers': compose([watch], async (ctx) => listWorkers(ctx, this.registry)),
      'GET /v1/llmwire/status': compose([watch], statusRoute(this, options.bus)),
      'GET /healthz': async (ctx) => sendJson(ctx, 200, { status: 'ok' }),
      'GET /readyz': async (ctx) => readiness(ctx, this.registry),
    };
    for (const key of Object.keys(this.routes)) {
      const [method, path] = key.split(' ') as [string, string];
      this.methods.set(path, [...(this.methods.get(path) ?? []), method]);
      if (path.includes('{')) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
        const re = new RegExp(`^${path.replace(/\{\w+\}/g, '([^/]+)')}$`);
        this.templates.push({ key, method, path, re, names });
      }
    }
    this.cors = new Cors(options.cors);
    this.server = createHttpServer(
      (req, res) => void this.onRequest(req, res),
      options.http,
      options.tls === undefined ? undefined : httpsServerOptions(options.tls, 'gateway.tls'),
    );
  }

  async listen(): Promise<string> {
    await this.registry.start();
    await this.rollouts.start();
    await this.responses.start();
    await this.batches.start();
    await this.peers.start();
    this.presence.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  get url(): string {
    const addr = this.server.address() as AddressInfo | null;
    if (addr === null) return '';
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `${this.options.tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`;
  }

  /** Admission slots per model: the capacity of the ready workers serving it. */
  refreshCapacity(): void {
    const slots = new Map<string, number>();
    for (const w of this.registry.all()) {
      if (w.status !== 'ready') continue;
      for (const m of w.models) slots.set(m, (slots.get(m) ?? 0) + w.capacity);
    }
    for (const m of this.registry.models()) if (!slots.has(m)) slots.set(m, 0);
    for (const [m, n] of slots) this.admission.setCapacity(m, n);
  }

  private async admit(ctx: Ctx, request: InferenceRequest, call: CallOptions): Promise<Lease> {
    if (this.registry.forModel(request.model).length === 0) {
      // Known model, nobody ready (all draining): waiting in the queue would only time out.
      throw new UnavailableError(`no ready worker for model '${request.model}'`);
    }
    const startedAt = performance.now();
    let lease: Lease;
    try {
      lease = await this.admission.admit({
        tenant: ctx.tenant.name,
        // Admission slots are per model: an adapter or a version shares its model's.
        model: this.registry.target(request.model).model,
        priority: call.prio,
        estimatedTokens: estimateTokens(request),
        deadline: call.deadline,
        signal: ctx.signal,
      });
    } catch (err) {
      ctx.obs.pastChild('queue wait', startedAt, err);
      throw err;
    }
    // A request granted a free slot at once gets no span: one of no wait tells a trace nothing.
    if (lease.queued) ctx.obs.pastChild('queue wait', startedAt);
    return lease;
  }

  async close(): Promise<void> {
    await this.batches.close();
    await this.responses.close();
    this.observability.close();
    this.admission.close();
    this.rollouts.stop();
    this.registry.stop();
    this.server.closeIdleConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.peers.stop();
    this.presence.stop();
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client disconnected'));
    });
    const incomingId = req.headers['x-request-id'];
    const arrived = Date.now();
    const url = new URL(req.url ?? '/', 'http://gateway');
    const requestId =
      typeof incomingId === 'string' && REQUEST_ID_RE.test(incomingId) ? incomingId : randomUUID();
    const { key, path, params } = this.match(req.method ?? 'GET', url.pathname);
    const route = this.routes[key];
    const obs = new RequestObservation(this.sinks, {
      req,
      res,
      requestId,
      route: route === undefined ? undefined : key,
      endpoint: ENDPOINTS[url.pathname],
      arrived,
      signal: abort.signal,
    });
    const ctx: Ctx = {
      req,
      res,
      url,
      requestId,
      tenant: { name: 'anonymous' },
      signal: abort.signal,
      arrived,
      obs,
      ...(params === undefined ? {} : { params }),
    };
    const errorShape = ERROR_SHAPES[url.pathname];
    if (errorShape !== undefined) ctx.errorShape = errorShape;
    let failure: unknown;
    try {
      if (!this.cors.handle(ctx, this.methods.get(path) ?? [])) {
        if (route === undefined) throw new NotFoundError(`no route ${req.method} ${url.pathname}`);
        await route(ctx);
      }
    } catch (err) {
      failure = err;
      sendError(ctx, err);
    }
    obs.finish(res.statusCode, ctx.tenant.name, failure);
  }

  /**
   * The route a request takes: its exact path, else the first `{name}` template its path fits
   * (the key, and so metrics and spans, name the template, never the id in the path).
   */
  private match(
    method: string,
    pathname: string,
  ): { key: string; path: string; params?: Record<string, string> } {
    const key = `${method} ${pathname}`;
    if (this.methods.has(pathname)) return { key, path: pathname };
    let path = pathname;
    for (const t of this.templates) {
      const m = t.re.exec(pathname);
      if (m === null) continue;
      path = t.path;
      if (t.method !== method) continue;
      const params: Record<string, string> = {};
      t.names.forEach((name, i) => (params[name] = decodeSegment(m[i + 1]!)));
      return { key: t.key, path, params };
    }
    return { key: `${method} ${path}`, path };
  }

  private async chat(ctx: Ctx, shape: 'chat' | 'completion'): Promise<void> {
    const body = await readJson(ctx, this.options.bodyLimitBytes);
    const request: InferenceRequest = shape === 'chat' ? parseChat(body) : parseCompletion(body);
    const call = this.prepare(ctx, request, shape);
    const id = `${shape === 'chat' ? 'chatcmpl' : 'cmpl'}-${ctx.requestId}`;
    await this.answer(ctx, request, call, openaiFace(shape, id, request));
  }

  /** Anthropic Messages (messages/): the answer as a message, or the prompt's token count. */
  private async messages(ctx: Ctx, count: boolean): Promise<void> {
    const body = await readJson(ctx, this.options.bodyLimitBytes);
    if (count) {
      const request = parseCountTokens(body);
      checkModelAllowed(ctx.tenant, request.model);
      this.dispatcher.checkModel(request.model);
      sendJson(ctx, 200, { input_tokens: inputTokens(request) });
      return;
    }
    const request = parseMessages(body);
    const call = this.prepare(ctx, request, 'messages');
    await this.answer(ctx, request, call, messagesFace(`msg_${ctx.requestId}`, request));
  }

  /**
   * What every inference route does before it dispatches: the tenant may use the model, a worker
   * serves it, and the call's priority, deadline and observation.
   */
  prepare(ctx: Ctx, request: InferenceRequest, endpoint: string): CallOptions {
    checkModelAllowed(ctx.tenant, request.model);
    this.dispatcher.checkModel(request.model);
    const call = callOptions(ctx, request, this.options.defaultTimeoutMs);
    call.observe = ctx.obs.begin(endpoint, request.model, ctx.tenant.name, request.stream === true);
    return call;
  }

  /**
   * Runs one inference request through admission and dispatch (failover included): the deltas
   * in the batches they arrived in, and the whole result, every delta joined in. The admission
   * lease is held until the generator ends.
   */
  async *run(
    ctx: Ctx,
    request: InferenceRequest,
    call: CallOptions,
  ): AsyncGenerator<TokenDelta[], InferenceResult> {
    const lease = await this.admit(ctx, request, call);
    ctx.obs.admitted(lease.queuedMs);
    let tokensUsed: number | undefined;
    const gen = this.dispatcher.chat(request, { ...call, waitUntil: lease.waitUntil });
    try {
      let first = true;
      for (;;) {
        const step = await gen.next();
        if (first) ctx.obs.firstToken();
        first = false;
        if (step.done === true) {
          tokensUsed = step.value.usage.total_tokens;
          ctx.obs.result(request, step.value);
          return step.value;
        }
        yield step.value;
      }
    } finally {
      lease.release(tokensUsed === undefined ? {} : { tokensUsed });
      await gen.return(undefined as never).catch(() => undefined);
    }
  }

  /** Answers an inference request in an API's shape, whole or streamed as `request.stream` asks. */
  async answer(
    ctx: Ctx,
    request: InferenceRequest,
    call: CallOptions,
    face: ApiFace,
  ): Promise<void> {
    const gen = this.run(ctx, request, call);
    try {
      if (request.stream !== true) {
        let step = await gen.next();
        while (step.done !== true) step = await gen.next();
        sendJson(ctx, 200, await face.whole(step.value), {
          'x-llmwire-worker': step.value.worker ?? '',
        });
        return;
      }
      // Hold the headers until the first token so a failure before it gets a real status code.
      let step = await gen.next();
      const sse = new SseWriter(ctx.res, ctx.requestId);
      const out = face.stream(sse);
      try {
        await out.start();
        while (step.done !== true) {
          for (const delta of step.value) {
            // A face's delta resolves at once unless the socket is full or it has more to do.
            const wrote = out.delta(delta);
            if (wrote !== SSE_READY) await wrote;
          }
          if (sse.isClosed) {
            ctx.obs.clientGone();
            return;
          }
          step = await gen.next();
        }
        await out.finish(step.value);
      } catch (err) {
        const wire = toWireError(err);
        ctx.obs.streamFailed(wire.code);
        await out.fail(wire);
      }
    } finally {
      await gen.return(undefined as never).catch(() => undefined);
    }
  }

  private async embeddings(ctx: Ctx): Promise<void> {
    const request = parseEmbedding(await readJson(ctx, this.options.bodyLimitBytes));
    checkModelAllowed(ctx.tenant, request.model);
    this.dispatcher.checkModel(request.model);
    const call = callOptions(ctx, request, this.options.defaultTimeoutMs);
    call.observe = ctx.obs.begin('embedding', request.model, ctx.tenant.name, false);
    const inputs = Array.isArray(request.input) ? request.input : [request.input];
    const lease = await this.admit(
      ctx,
      { model: request.model, prompt: inputs.map(String), max_tokens: 1 },
      call,
    );
    ctx.obs.admitted(lease.queuedMs);
    let result;
    try {
      result = await this.dispatcher.embed(request, { ...call, waitUntil: lease.waitUntil });
    } finally {
      lease.release();
    }
    ctx.obs.embedded(result.usage);
    sendJson(ctx, 200, {
      object: 'list',
      model: result.model,
      data: result.data.map((d) => ({
        object: 'embedding',
        index: d.index,
        embedding: d.embedding,
      })),
      usage: result.usage,
    });
  }
}

export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}
