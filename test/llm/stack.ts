// A gateway with in-process sim workers on one memory bus, for tests; disposed with `await using`.
import OpenAI from 'openai';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createSimBackend, type SimBackendOptions } from '../../src/llm/backends/sim/index.js';
import type { Backend } from '../../src/llm/backends/backend.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/llm/gateway/server.js';
import { createWorker, type Worker } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { Transport } from '../../src/transport/transport.js';

export interface StackOptions {
  workers?: number;
  sim?: SimBackendOptions | ((i: number) => SimBackendOptions);
  backends?: Backend[];
  gateway?: Partial<GatewayOptions>;
  concurrency?: number;
  heartbeatMs?: number;
  transport?: Transport;
}

export interface Stack {
  url: string;
  bus: Bus;
  transport: Transport;
  gateway: Gateway;
  workers: Worker[];
  client(key?: string): OpenAI;
  waitForWorkers(n: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const transport = options.transport ?? createMemoryTransport();
  const bus = createBus({ transport, source: 'test', onError: () => undefined });
  const gateway = createGateway({ bus, port: 0, ...options.gateway });
  const url = await gateway.listen();
  const workers: Worker[] = [];
  const backends =
    options.backends ??
    Array.from({ length: options.workers ?? 2 }, (_, i) =>
      createSimBackend({
        models: ['sim'],
        ...(typeof options.sim === 'function' ? options.sim(i) : options.sim),
      }),
    );
  for (const [i, backend] of backends.entries()) {
    const w = createWorker({
      bus,
      backend,
      id: `w${i + 1}`,
      concurrency: options.concurrency ?? 64,
      heartbeatMs: options.heartbeatMs ?? 100,
    });
    await w.start();
    workers.push(w);
  }
  const stack: Stack = {
    url,
    bus,
    transport,
    gateway,
    workers,
    client: (key = 'none') => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 }),
    async waitForWorkers(n) {
      const until = Date.now() + 5000;
      while (gateway.registry.all().filter((w) => w.status === 'ready').length < n) {
        if (Date.now() > until)
          throw new Error(`only ${gateway.registry.all().length} workers joined`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async [Symbol.asyncDispose]() {
      for (const w of workers) await w.stop();
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
  await stack.waitForWorkers(workers.length);
  return stack;
}

/** The text a sim backend gives for a request when nothing fails: the reference for failover. */
export async function referenceText(
  options: SimBackendOptions,
  request: Parameters<Backend['generate']>[0],
): Promise<string> {
  const backend = createSimBackend({
    models: ['sim'],
    ...options,
    ttftMs: 0,
    itlMs: 0,
    failure: {},
  });
  let text = '';
  const gen = backend.generate(request, { signal: new AbortController().signal });
  for (let step = await gen.next(); step.done !== true; step = await gen.next())
    text += step.value.text;
  return text;
}
