// Params rollouts on the openai backend: the upstream holds the weights, so a worker tells it
// through the configured hook URL (a real HTTP server here), then asks the upstream for the
// model name the hook gave; a hook that refuses leaves the version `failed` in the heartbeat.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { createOpenAIBackend } from '../../src/llm/backends/openai/index.js';
import { createGateway } from '../../src/llm/gateway/server.js';
import { createParams } from '../../src/llm/params/client.js';
import { createParamsService } from '../../src/llm/params/service.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { startUpstream, type Call } from './backends/openai-upstream.js';
import { waitUntil } from '../wait.js';

describe('params - openai backend hook', () => {
  test('a pushed adapter is announced to the hook and requests for it ask the upstream for the name the hook gave', async () => {
    let refuse = false;
    await using upstream = await startUpstream((call: Call) => {
      if (call.path.endsWith('/hook')) {
        return refuse
          ? { kind: 'error', status: 500, body: { error: 'out of memory' } }
          : { kind: 'json', body: { model: `lora-${String(call.body.version)}` } };
      }
      return { kind: 'stream', pieces: ['bon', 'jour'], finish: 'stop' };
    });
    const transport = createMemoryTransport();
    const bus = createBus({ transport, onError: () => undefined });
    const service = createParamsService({ bus });
    await service.start();
    const gateway = createGateway({ bus, port: 0 });
    const url = await gateway.listen();
    const worker = createWorker({
      bus,
      id: 'up-1',
      heartbeatMs: 50,
      backend: createOpenAIBackend({
        baseURL: upstream.baseURL,
        models: ['base-m'],
        paramsHook: `${upstream.baseURL}/hook`,
      }),
      params: { dir: mkdtempSync(join(tmpdir(), 'llmwire-params-openai-')) },
    });
    await worker.start();
    try {
      const file = randomBytes(5000);
      const record = await createParams(bus).push(file, {
        model: 'base-m',
        adapter: 'fr',
        version: 'v2',
      });
      await waitUntil(
        () => gateway.registry.get('up-1')?.params[0]?.state === 'loaded',
        'the adapter to load',
      );
      const hook = upstream.calls.find((c) => c.path.endsWith('/hook'))!;
      assert.equal(hook.method, 'POST');
      assert.deepEqual(
        { ...hook.body, path: typeof hook.body.path },
        {
          action: 'load',
          model: 'base-m',
          adapter: 'fr',
          version: 'v2',
          path: 'string',
          sum: record.blob.sum,
          size: 5000,
        },
      );
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'base-m@fr', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = (await res.json()) as {
        model: string;
        choices: { message: { content: string } }[];
      };
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.model, 'base-m@fr:v2');
      assert.equal(body.choices[0]?.message.content, 'bonjour');
      const chat = upstream.calls.find((c) => c.path.endsWith('/chat/completions'))!;
      assert.equal(chat.body.model, 'lora-v2', 'the upstream was asked for the hook’s name');

      // A hook that refuses: the version is announced as failed, and not routed to.
      refuse = true;
      await createParams(bus).push(randomBytes(100), {
        model: 'base-m',
        adapter: 'fr',
        version: 'v3',
      });
      await waitUntil(
        () =>
          gateway.registry
            .get('up-1')
            ?.params.some((p) => p.version === 'v3' && p.state === 'failed') === true,
        'v3 to fail',
      );
      const v3 = gateway.registry.get('up-1')!.params.find((p) => p.version === 'v3')!;
      assert.equal(v3.error, 'upstream_error');
      const pinned = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'base-m@fr:v3',
          messages: [{ role: 'user', content: 'hi' }],
        }),
      });
      assert.equal(pinned.status, 404);
      // v3 is the current record with no holder: unpinned requests still reach v2.
      const unpinned = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'base-m@fr', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(((await unpinned.json()) as { model: string }).model, 'base-m@fr:v2');
    } finally {
      await worker.stop();
      service.stop();
      await gateway.close();
      await bus.close();
      await transport.close();
    }
  });
});
