// The gateway's read-only endpoints: the models served, the live workers, and readiness.
import { sendJson, type Ctx } from './http.js';
import type { WorkerRegistry } from './registry.js';

export function listModels(ctx: Ctx, registry: WorkerRegistry): void {
  const allowed = ctx.tenant.models;
  const ready = new Set(
    registry
      .all()
      .filter((w) => w.status === 'ready')
      .flatMap((w) => w.models),
  );
  const data = [...ready]
    .sort()
    .filter((m) => allowed === undefined || allowed.includes(m))
    .map((id) => ({ id, object: 'model', created: 0, owned_by: 'llmwire' }));
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
