// The Responses API across processes: a worker process SIGKILLed mid-stream, stored responses
// that outlive a killed `llmwire up` (the SQLite journal), and the API over NATS - a gateway
// process with worker processes, and two gateways sharing stored responses through JetStream KV.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { createBus } from '../../src/bus/index.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import { RESPONSE_TTL_MS, responseStoreName } from '../../src/llm/gateway/responses/store.js';
import { createGateway } from '../../src/llm/gateway/server.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { BROKER_URLS } from '../helpers/broker-urls.js';
import { brokerAvailable, startBrokerStack } from './broker-stack.js';
import { spawnProcess, startProcessStack, within } from './process-stack.js';
import { referenceText } from './stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TIMEOUT = { timeout: 60_000 };

/** Streams one response; returns its text deltas joined, calling `onDelta` after each. */
async function streamText(
  client: OpenAI,
  body: OpenAI.Responses.ResponseCreateParamsNonStreaming,
  onDelta?: (n: number) => void,
): Promise<{ text: string; status: string | undefined }> {
  let text = '';
  let n = 0;
  let status: string | undefined;
  for await (const ev of await client.responses.create({ ...body, stream: true })) {
    if (ev.type === 'response.output_text.delta') {
      text += ev.delta;
      onDelta?.(++n);
    }
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') {
      status = ev.response.status;
    }
    if (ev.type === 'response.failed') status = `failed: ${ev.response.error?.code}`;
  }
  return { text, status };
}

describe('responses - processes', () => {
  test(
    'a worker SIGKILLed mid-stream is replaced and the text arrives whole, once',
    TIMEOUT,
    async () => {
      await using stack = await startProcessStack();
      const workers = new Map(
        await Promise.all(
          ['wa', 'wb'].map(async (id) => [id, await stack.startWorker(id)] as const),
        ),
      );
      const expected = await referenceText(
        {},
        {
          model: 'sim',
          messages: [{ role: 'user', content: 'A long tale.' }],
          max_completion_tokens: 120,
        },
      );
      let victim: string | undefined;
      const outcome = await streamText(
        stack.client(),
        { model: 'sim', input: 'A long tale.', max_output_tokens: 120 },
        (n) => {
          if (n !== 10) return;
          [victim] = stack.serving();
          workers.get(victim!)!.child.kill('SIGKILL');
        },
      );
      assert.ok(victim !== undefined, 'a worker was serving when it was killed');
      assert.equal(outcome.text, expected, 'no duplicated and no missing text');
      assert.equal(outcome.status, 'incomplete', 'ended by max_output_tokens');
      assert.equal((await workers.get(victim)!.exited).signal, 'SIGKILL');
    },
  );

  test(
    'stored responses outlive a SIGKILLed llmwire up: a restart chains on them',
    TIMEOUT,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-responses-'));
      try {
        const up = () => spawnProcess('up', CLI, ['up', '--port', '0', '--data-dir', dir]);
        const start = async () => {
          const p = up();
          await p.waitForOutput(/^ready;/m, 20_000);
          const url = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(p.output())![1]!;
          return { p, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }) };
        };
        const first = await start();
        assert.match(first.p.output(), /responses +stored in sqlite record store 'responses'/);
        const one = await first.client.responses.create({ model: 'sim', input: 'Remember me.' });
        first.p.child.kill('SIGKILL');
        await within(first.p.exited, 'up to die', 5000);

        const second = await start();
        try {
          const got = await second.client.responses.retrieve(one.id);
          assert.equal(got.output_text, one.output_text);
          const two = await second.client.responses.create({
            model: 'sim',
            input: 'And now?',
            previous_response_id: one.id,
          });
          assert.equal(two.status, 'completed');
          assert.equal(two.previous_response_id, one.id);
        } finally {
          second.p.child.kill('SIGKILL');
          await within(second.p.exited, 'up to die', 5000);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('responses - over NATS', async () => {
  if (!(await brokerAvailable('nats', 'the Responses API over NATS'))) return;

  test(
    'a gateway process and worker processes: whole, streamed, tools, chained',
    TIMEOUT,
    async () => {
      await using stack = await startBrokerStack('nats', { workers: 2 });
      const client = stack.client();
      const whole = await client.responses.create({ model: 'sim', input: 'Over the broker.' });
      assert.equal(whole.status, 'completed');
      const streamed = await streamText(client, { model: 'sim', input: 'Over the broker.' });
      assert.equal(streamed.text, whole.output_text);
      const called = await client.responses.create({
        model: 'sim',
        input: 'Use lookup.',
        tools: [
          {
            type: 'function',
            name: 'lookup',
            parameters: { type: 'object', properties: { q: { type: 'string' } } },
            strict: false,
          },
        ],
      });
      const call = called.output.find((o) => o.type === 'function_call');
      assert.ok(call?.type === 'function_call' && call.name === 'lookup');
      const next = await client.responses.create({
        model: 'sim',
        previous_response_id: called.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: 'found' }],
      });
      assert.equal(next.status, 'completed');
      assert.ok(next.output_text.length > 0);
    },
  );

  test('two gateways on one NATS share stored responses (JetStream KV)', TIMEOUT, async () => {
    const namespace = `r${Date.now().toString(36)}`;
    const transports = await Promise.all(
      [0, 1].map(() => createNatsTransport({ servers: BROKER_URLS.nats })),
    );
    const buses = transports.map((transport) =>
      createBus({ transport, source: 'test', onError: () => undefined }),
    );
    const gateways = buses.map((bus, i) =>
      createGateway({
        bus,
        port: 0,
        namespace,
        responseStore: transports[i]!.records!(responseStoreName(namespace), {
          ttlMs: RESPONSE_TTL_MS,
        }),
      }),
    );
    const worker = createWorker({
      bus: buses[0]!,
      backend: createSimBackend({ models: ['sim'], itlMs: 5 }),
      id: 'w1',
      namespace,
      heartbeatMs: 100,
    });
    try {
      const urls = await Promise.all(gateways.map((g) => g.listen()));
      await worker.start();
      for (const g of gateways) {
        const until = Date.now() + 10_000;
        while (g.registry.models().length === 0 && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const [a, b] = urls.map(
        (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
      );
      const one = await a!.responses.create({ model: 'sim', input: 'Shared?' });
      const seen = await b!.responses.retrieve(one.id);
      assert.equal(seen.output_text, one.output_text, 'gateway B reads what A stored');
      const two = await b!.responses.create({
        model: 'sim',
        input: 'Yes.',
        previous_response_id: one.id,
      });
      assert.equal(two.status, 'completed');
      await a!.responses.delete(two.id);
      await assert.rejects(b!.responses.retrieve(two.id), /404/);
      // A background response runs on A; a cancel sent to B reaches it over NATS.
      const long = await a!.responses.create({
        model: 'sim',
        input: 'A long one.',
        background: true,
        max_output_tokens: 5000,
      });
      const cancelled = await b!.responses.cancel(long.id);
      assert.equal(cancelled.status, 'cancelled');
    } finally {
      await worker.stop();
      for (const g of gateways) await g.close();
      for (const bus of buses) await bus.close();
      for (const t of transports) await t.close();
    }
  });
});
