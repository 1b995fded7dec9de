// The subject of the LLM groups: the real gateway (createGateway on a free port) with sim workers
// in the same process on one memory bus, as `llmwire up --transport memory` assembles them.
import { createBus } from '../../src/bus/index.js';
import { createSimBackend, type SimBackendOptions } from '../../src/llm/backends/sim/index.js';
import { RESPONSE_TTL_MS, responseStoreName } from '../../src/llm/gateway/responses/store.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/llm/gateway/server.js';
import type { PolicyName } from '../../src/llm/routing/policy.js';
import { createWorker, type Worker, type WorkerOptions } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

export interface StackOptions {
  workers: number;
  /** Options of every worker's sim backend; `models` is always ['sim']. */
  sim: SimBackendOptions;
  /** Requests each worker runs at once. */
  concurrency: number;
  policy?: PolicyName;
  /** Worker heartbeat period; default the worker's own (1 s). */
  heartbeatMs?: number;
  /** More gateway options (e.g. observability). */
  gateway?: Partial<GatewayOptions>;
  /** More worker options (e.g. logger, tracer). */
  worker?: Partial<WorkerOptions>;
}

export interface GatewayStack {
  url: string;
  gateway: Gateway;
  workers: Worker[];
  /** Errors the bus had nowhere else to report; a clean run has none. */
  errors: unknown[];
  close(): Promise<void>;
}

export async function startGatewayStack(options: StackOptions): Promise<GatewayStack> {
  const transport = createMemoryTransport();
  const errors: unknown[] = [];
  const bus = createBus({ transport, source: 'bench-gateway', onError: (e) => errors.push(e) });
  await bus.ready;
  // Stored responses (Responses API) in the transport's record store, as `llmwire up` keeps them.
  const responseStore = transport.records?.(responseStoreName(), { ttlMs: RESPONSE_TTL_MS });
  const gateway = createGateway({
    bus,
    port: 0,
    ...(responseStore === undefined ? {} : { responseStore }),
    ...(options.policy === undefined ? {} : { routing: { policy: options.policy } }),
    ...options.gateway,
  });
  const url = await gateway.listen();
  const workers: Worker[] = [];
  for (let i = 0; i < options.workers; i++) {
    const worker = createWorker({
      bus,
      backend: createSimBackend({ ...options.sim, models: ['sim'] }),
      id: `w${i + 1}`,
      concurrency: options.concurrency,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      ...options.worker,
    });
    await worker.start();
    workers.push(worker);
  }
  const until = Date.now() + 5000;
  while (gateway.registry.all().filter((w) => w.status === 'ready').length < workers.length) {
    if (Date.now() > until) throw new Error('bench gateway: workers did not join within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    url,
    gateway,
    workers,
    errors,
    async close() {
      for (const w of workers) await w.stop();
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
}
