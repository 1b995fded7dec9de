// The gateway's read-only endpoints: the models served, the live workers, and readiness.
import { modelAllowed } from './auth.js';
import { sendJson, type Ctx } from './http.js';
import type { WorkerRegistry } from './registry.js';

/** The HTTP APIs that reach a worker answering chat, and one answering embeddings. */
const CHAT_APIS = ['chat.completions', 'completions', 'responses', 'messages'] as const;
const EMBEDDING_APIS = ['embeddings'] as const;

/** Each model its ready workers serve, with the APIs that reach it, sorted by model. */
export function modelApis(registry: WorkerRegistry): Map<string, string[]> {
  const apis = new Map<string, Set<string>>();
  for (const w of registry.all()) {
    if (w.status !== 'ready') continue;
    // Adapters a worker has loaded are listed as `model@adapter` (llm/params).
    const adapters = w.params
      .filter((p) => p.state === 'loaded' && p.adapter !== undefined && w.models.includes(p.model))
      .map((p) => `${p.model}@${p.adapter}`);
    for (const m of [...w.models, ...adapters]) {
      const set = apis.get(m) ?? new Set<string>();
      if (w.serves.includes('chat')) for (const api of CHAT_APIS) set.add(api);
      if (w.serves.includes('embeddings')) for (const api of EMBEDDING_APIS) set.add(api);
      apis.set(m, set);
    }
  }
  const order = [...CHAT_APIS, ...EMBEDDING_APIS] as readonly string[];
  return new Map(
    [...apis.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([m, set]) => [m, order.filter((api) => set.has(api))]),
  );
}

/**
 * `GET /v1/models`: the models this key may use, each with the APIs that serve it. A request
 * with `anthropic-version` (the Anthropic SDK's `models.list`) gets Anthropic's list shape.
 */
export function listModels(ctx: Ctx, registry: WorkerRegistry): void {
  const allowed = ctx.tenant.models;
  const models = [...modelApis(registry)].filter(([m]) => modelAllowed(allowed, m));
  if (ctx.req.headers['anthropic-version'] !== undefined) {
    const data = models.map(([id, apis]) => ({
      type: 'model',
      id,
      display_name: id,
      created_at: '1970-01-01T00:00:00Z',
      apis,
    }));
    sendJson(ctx, 200, {
      data,
      has_more: false,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    });
    return;
  }
  const data = models.map(([id, apis]) => ({
    id,
    object: 'model',
    created: 0,
    owned_by: 'llmwire',
    apis,
  }));
  sendJson(ctx, 200, { object: 'list', data });
}

export function listWorkers(ctx: Ctx, registry: WorkerRegistry): void {
  const now = Date.now();
  const workers = registry.all().map((w) => ({
    id: w.id,
    status: w.status,
    models: w.models,
    capacity: w.capacity,
    inflight: w.inflight,
    cachedBlocks: w.prefixHashes.size,
    params: w.params,
    lastSeenMs: now - w.lastSeen,
  }));
  sendJson(ctx, 200, { workers });
}

export function readiness(ctx: Ctx, registry: WorkerRegistry): void {
  const workers = registry.all().filter((w) => w.status === 'ready').length;
  sendJson(ctx, workers > 0 ? 200 : 503, {
    status: workers > 0 ? 'ready' : 'no_workers',
    workers,
  });
}
