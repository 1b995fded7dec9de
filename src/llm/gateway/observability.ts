// What the gateway offers for observability, assembled in one place: Prometheus metrics at
// GET /metrics, the live dashboard at /dashboard (with / redirecting there), the observers
// every request's observation reports to (metrics, plus any given, e.g. tracing), and the log
// of workers joining and leaving.
import {
  Dashboard,
  GatewayMetrics,
  type DashboardOptions,
  type GatewayMetricsOptions,
  type Logger,
} from '../../ops/index.js';
import type { AdmissionController } from '../routing/index.js';
import type { Handler } from './http.js';
import { modelApis } from './info.js';
import { combineObservers, type GatewayObserver } from './observe.js';
import type { WorkerRegistry } from './registry.js';

export interface ObservabilityOptions {
  /** Prometheus metrics at GET /metrics (a Registry of this gateway's own). Default off. */
  metrics?: boolean | GatewayMetricsOptions;
  /** The live dashboard at /dashboard; needs metrics. Default on when metrics are. */
  dashboard?: boolean | DashboardOptions;
  /** More observers of every request (e.g. tracing), called after metrics. */
  observers?: GatewayObserver[];
}

export interface Observability {
  metrics: GatewayMetrics | undefined;
  dashboard: Dashboard | undefined;
  observer: GatewayObserver | undefined;
  routes: Record<string, Handler>;
  close(): void;
}

export function createObservability(
  options: ObservabilityOptions,
  registry: WorkerRegistry,
  admission: AdmissionController,
): Observability {
  const routes: Record<string, Handler> = {};
  let metrics: GatewayMetrics | undefined;
  let dashboard: Dashboard | undefined;
  if (options.metrics !== undefined && options.metrics !== false) {
    const m = new GatewayMetrics(options.metrics === true ? {} : options.metrics);
    metrics = m;
    m.setSources({
      models: () => {
        const apis = modelApis(registry);
        return registry.models().map((model) => {
          const s = admission.snapshot(model);
          return {
            model,
            capacity: s.capacity,
            inflight: s.inflight,
            queued: s.queued,
            apis: apis.get(model) ?? [],
          };
        });
      },
      workers: () => {
        const now = Date.now();
        return registry.all().map((w) => ({
          id: w.id,
          status: w.status,
          models: w.models,
          capacity: w.capacity,
          inflight: w.inflight,
          heartbeats: w.beats,
          lastSeenMs: Math.max(0, now - w.lastSeen),
          cachedBlocks: w.prefixHashes.size,
        }));
      },
    });
    routes['GET /metrics'] = async (ctx) => {
      const { contentType, text } = await m.expose();
      ctx.res.writeHead(200, {
        'content-type': contentType,
        'content-length': Buffer.byteLength(text),
      });
      ctx.res.end(text);
    };
    if (options.dashboard !== false) {
      const d = new Dashboard(m, options.dashboard === true ? {} : (options.dashboard ?? {}));
      dashboard = d;
      routes['GET /dashboard'] = async (ctx) => d.page(ctx.res);
      routes['GET /dashboard/feed'] = async (ctx) => d.feed(ctx.req, ctx.res);
      routes['GET /'] = async (ctx) => {
        ctx.res.writeHead(302, { location: '/dashboard', 'content-length': 0 });
        ctx.res.end();
      };
    }
  }
  const observer = combineObservers([...(metrics ? [metrics] : []), ...(options.observers ?? [])]);
  return {
    metrics,
    dashboard,
    observer,
    routes,
    close: () => dashboard?.close(),
  };
}

/** Logs workers joining, draining and being lost, as the registry sees them. */
export function logRegistry(registry: WorkerRegistry, log: Logger): () => void {
  return registry.on((e) => {
    const fields = { worker: e.worker.id, models: e.worker.models, status: e.worker.status };
    switch (e.type) {
      case 'joined':
        log.info({ ...fields, capacity: e.worker.capacity }, 'worker joined');
        return;
      case 'lost':
        if (e.reason === 'stopped') log.info(fields, 'worker left');
        else log.warn(fields, 'worker lost');
        return;
      case 'draining':
        log.info(fields, 'worker draining');
        return;
      case 'changed':
        log.debug(fields, 'worker changed');
        return;
    }
  });
}
