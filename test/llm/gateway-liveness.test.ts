// Gateway liveness on the memory transport (llm/gateway-presence.ts): a worker stops the
// generations streaming to a gateway that says it stopped or whose heartbeats stop, and leaves
// alone the streams of a requester that never announced itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createSimBackend } from '../../src/llm/backends/index.js';
import { GatewayPresence } from '../../src/llm/gateway-presence.js';
import { llmSubjects } from '../../src/llm/subjects.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { waitUntil } from '../wait.js';

const subjects = llmSubjects();

/** Opens a chat stream from `bus` to worker w1 that runs long; reads it in the background. */
function longStream(bus: Bus): { chunks: () => number } {
  let chunks = 0;
  const stream = bus.stream(
    subjects.chat('w1'),
    { model: 'sim', prompt: 'a long story', max_tokens: 10_000 },
    { kind: 'inference.request', timeoutMs: 60_000 },
  );
  void (async () => {
    try {
      for await (const _ of stream) chunks++;
    } catch {
      // ended by the test's teardown
    }
  })();
  return { chunks: () => chunks };
}

test('gateway liveness - the worker stops a stopped gateway’s generations, not a plain client’s', async () => {
  const transport = createMemoryTransport();
  const buses = [0, 1, 2].map(() => createBus({ transport, onError: () => undefined }));
  const [workerBus, gatewayBus, clientBus] = buses as [Bus, Bus, Bus];
  await Promise.all(buses.map((b) => b.ready));
  const worker = createWorker({
    bus: workerBus,
    id: 'w1',
    backend: createSimBackend({ models: ['sim'], ttftMs: 0, itlMs: 5 }),
  });
  await worker.start();
  const presence = new GatewayPresence(gatewayBus, subjects, 50);
  try {
    // The stream starts before the worker has heard the gateway: it is tied on the first beat.
    const fromGateway = longStream(gatewayBus);
    const fromClient = longStream(clientBus);
    await waitUntil(() => fromGateway.chunks() > 0 && fromClient.chunks() > 0, 'both streams');
    presence.start();
    await new Promise((r) => setTimeout(r, 120));
    presence.stop();
    await waitUntil(() => worker.stats.cancelled === 1, 'the gateway’s generation to stop');
    assert.equal(worker.stats.inflight, 1, 'the plain client’s stream goes on');
    const seen = fromClient.chunks();
    await waitUntil(() => fromClient.chunks() > seen, 'more chunks for the plain client');
  } finally {
    await worker.stop();
    await Promise.all(buses.map((b) => b.close()));
    await transport.close();
  }
});

test('gateway liveness - the worker stops the generations of a gateway whose heartbeats stop', async () => {
  const transport = createMemoryTransport();
  const buses = [0, 1].map(() => createBus({ transport, onError: () => undefined }));
  const [workerBus, gatewayBus] = buses as [Bus, Bus];
  await Promise.all(buses.map((b) => b.ready));
  const worker = createWorker({
    bus: workerBus,
    id: 'w1',
    backend: createSimBackend({ models: ['sim'], ttftMs: 0, itlMs: 5 }),
  });
  await worker.start();
  const presence = new GatewayPresence(gatewayBus, subjects, 50);
  try {
    presence.start();
    await new Promise((r) => setTimeout(r, 60));
    const streams = [longStream(gatewayBus), longStream(gatewayBus)];
    await waitUntil(() => streams.every((s) => s.chunks() > 0), 'the streams');
    // Silence without a goodbye, as a killed process: the heartbeat timer just stops.
    clearInterval((presence as unknown as { timer: NodeJS.Timeout }).timer);
    await waitUntil(() => worker.stats.cancelled === 2, 'both generations to stop');
    assert.equal(worker.stats.inflight, 0);
  } finally {
    await worker.stop();
    await Promise.all(buses.map((b) => b.close()));
    await transport.close();
  }
});
