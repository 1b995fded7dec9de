// The llmwire side of the spec tests: sim workers or a gateway on a NATS transport, in-process,
// under a namespace of their own. Only this file imports llmwire code; bare.ts imports none.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createSimBackend, type SimBackendOptions } from '../../src/llm/backends/sim/index.js';
import { createGateway, type Gateway } from '../../src/llm/gateway/server.js';
import { createWorker, type Worker } from '../../src/llm/worker/worker.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createBusHub } from '../../src/transport/ws/hub.js';
import type { Transport } from '../../src/transport/transport.js';

export function namespace(): string {
  return `spec${randomBytes(4).toString('hex')}`;
}

export interface LlmwireWorkers extends AsyncDisposable {
  readonly workers: Map<string, Worker>;
  readonly errors: unknown[];
}

/** Sim workers, one per entry of `sims` (id -> options), on one bus over NATS at `url`. */
export async function startWorkers(
  url: string,
  ns: string,
  sims: Record<string, SimBackendOptions>,
): Promise<LlmwireWorkers> {
  const errors: unknown[] = [];
  const transport: Transport = await createNatsTransport({
    servers: url,
    onError: (e) => errors.push(e),
  });
  const bus: Bus = createBus({
    transport,
    source: 'llmwire-workers',
    onError: (e) => errors.push(e),
  });
  await bus.ready;
  const workers = new Map<string, Worker>();
  for (const [id, sim] of Object.entries(sims)) {
    const w = createWorker({
      bus,
      id,
      namespace: ns,
      backend: createSimBackend({ models: ['sim'], ...sim }),
      heartbeatMs: 200,
    });
    await w.start();
    workers.set(id, w);
  }
  return {
    workers,
    errors,
    async [Symbol.asyncDispose]() {
      for (const w of workers.values()) await w.stop();
      await bus.close();
      await transport.close();
    },
  };
}

export interface LlmwireGateway extends AsyncDisposable {
  readonly gateway: Gateway;
  readonly client: OpenAI;
  waitForWorker(id: string): Promise<void>;
}

/** A gateway serving `ns` over NATS at `url`, and an `openai` SDK client pointed at it. */
export async function startGateway(url: string, ns: string): Promise<LlmwireGateway> {
  const transport = await createNatsTransport({
    servers: url,
    onError: (e) => process.env.SPEC_DEBUG && console.error('T', e),
  });
  const bus = createBus({
    transport,
    source: 'gateway',
    onError: (e) => process.env.SPEC_DEBUG && console.error('B', e),
  });
  await bus.ready;
  const gateway = createGateway({ bus, port: 0, namespace: ns });
  const base = await gateway.listen();
  return {
    gateway,
    client: new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 }),
    async waitForWorker(id) {
      const until = Date.now() + 5000;
      while (!gateway.registry.all().some((w) => w.id === id && w.status === 'ready')) {
        if (Date.now() > until) throw new Error(`worker ${id} never joined the gateway`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async [Symbol.asyncDispose]() {
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
}

/** A bus on NATS at `url` serving `subject` with a stream of `items`, each item as given. */
export async function startStreamer(
  url: string,
  subject: string,
  items: unknown[],
): Promise<AsyncDisposable> {
  const transport = await createNatsTransport({ servers: url, onError: () => undefined });
  const bus = createBus({ transport, source: 'streamer', onError: () => undefined });
  const sub = bus.serve(subject, async function* () {
    for (const item of items) yield item;
    return { done: true };
  });
  await sub.ready;
  return {
    async [Symbol.asyncDispose]() {
      await bus.close();
      await transport.close();
    },
  };
}

/** Sim workers on one bus over Redis at `url`, with channels under `prefix`. */
export async function startRedisWorkers(
  url: string,
  prefix: string,
  ids: string[],
): Promise<AsyncDisposable> {
  const transport = createRedisTransport({ url, prefix, onError: () => undefined });
  const bus = createBus({ transport, source: 'llmwire-workers', onError: () => undefined });
  await bus.ready;
  const workers: Worker[] = [];
  for (const id of ids) {
    const w = createWorker({ bus, id, backend: createSimBackend({ models: ['sim'] }) });
    await w.start();
    workers.push(w);
  }
  return {
    async [Symbol.asyncDispose]() {
      for (const w of workers) await w.stop();
      await bus.close();
      await transport.close();
    },
  };
}

/** A sim worker on an in-process bus, joined by peers through a WebSocket hub. */
export async function startHubWorker(id: string): Promise<AsyncDisposable & { url: string }> {
  const transport = createMemoryTransport();
  const hub = createBusHub(transport);
  await hub.listening;
  const bus = createBus({ transport, source: 'llmwire-workers', onError: () => undefined });
  const worker = createWorker({ bus, id, backend: createSimBackend({ models: ['sim'] }) });
  await worker.start();
  return {
    url: hub.url,
    async [Symbol.asyncDispose]() {
      await worker.stop();
      await hub.close();
      await bus.close();
      await transport.close();
    },
  };
}
