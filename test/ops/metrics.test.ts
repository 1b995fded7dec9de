// Metrics end to end: a gateway and workers (in-process, and a real `llmwire worker` process
// with --metrics-port) serve streams to the official openai client under load; the scraped
// /metrics must count exactly what happened and pass `promtool check metrics`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { LabelGuard } from '../../src/ops/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { startProcessStack, streamChat, waitUntil } from '../llm/process-stack.js';
import { startStack } from '../llm/stack.js';
import { promtoolAccepts, scrape } from './scrape.js';

const messages = [{ role: 'user' as const, content: 'Count the tokens on the wire.' }];
const TIMEOUT = { timeout: 60_000 };

describe('metrics - gateway', () => {
  test('counts 50 concurrent streams exactly and passes promtool', TIMEOUT, async (t) => {
    await using stack = await startStack({
      workers: 2,
      sim: { ttftMs: 5, itlMs: 2 },
      gateway: { metrics: true },
    });
    const client = stack.client();
    const N = 50;
    const outcomes = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        streamChat(client, { model: 'sim', messages, max_tokens: 20 + (i % 7), seed: i }),
      ),
    );
    for (const o of outcomes) assert.equal(o.error, undefined, String(o.error));
    const deltas = outcomes.reduce((n, o) => n + o.deltas, 0);
    const completion = outcomes.reduce((n, o) => n + (o.completionTokens ?? 0), 0);
    assert.ok(deltas > N, 'the streams carried tokens');

    const m = await scrape(`${stack.url}/metrics`);
    const sim = { model: 'sim' };
    assert.equal(m.sum('llmwire_gateway_requests_total', { endpoint: 'chat', ...sim }), N);
    assert.equal(m.sum('llmwire_gateway_request_errors_total'), 0);
    assert.equal(m.sum('llmwire_gateway_time_to_first_token_seconds_count', sim), N);
    assert.equal(m.sum('llmwire_gateway_request_duration_seconds_count', sim), N);
    assert.equal(m.sum('llmwire_gateway_admission_wait_seconds_count', sim), N);
    // Every delta after a stream's first is one inter-token gap.
    assert.equal(m.sum('llmwire_gateway_inter_token_latency_seconds_count', sim), deltas - N);
    assert.equal(m.sum('llmwire_gateway_streamed_tokens_total'), deltas);
    assert.equal(m.sum('llmwire_gateway_completion_tokens_total', sim), completion);
    assert.ok(m.sum('llmwire_gateway_prompt_tokens_total', sim) > 0);
    assert.equal(m.sum('llmwire_gateway_requests_in_flight', sim), 0);
    assert.equal(m.sum('llmwire_gateway_worker_up'), 2);
    assert.equal(m.sum('llmwire_gateway_admission_slots', sim), 128);
    assert.ok(m.sum('llmwire_gateway_worker_heartbeats_total', { worker: 'w1' }) >= 1);
    // The le="+Inf" bucket holds every observation.
    assert.equal(
      m.sum('llmwire_gateway_time_to_first_token_seconds_bucket', { ...sim, le: '+Inf' }),
      N,
    );
    await promtoolAccepts(t, m.text);
  });

  test('counts refused requests by code, unknown models under one label', TIMEOUT, async () => {
    await using stack = await startStack({ workers: 1, gateway: { metrics: true } });
    const post = (body: string) =>
      fetch(`${stack.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then((r) => r.status);
    assert.equal(await post('{not json'), 400);
    for (let i = 0; i < 5; i++) {
      const body = JSON.stringify({ model: `random-${i}`, messages });
      assert.equal(await post(body), 404);
    }
    const m = await scrape(`${stack.url}/metrics`);
    const errors = 'llmwire_gateway_request_errors_total';
    assert.equal(m.sum(errors, { code: 'invalid_message', model: 'unknown' }), 1);
    assert.equal(m.sum(errors, { code: 'not_found', model: 'unknown' }), 5);
    assert.ok(!m.text.includes('random-'), 'model names from requests do not become labels');
  });

  test('counts a client that goes away mid-stream as a cancellation', TIMEOUT, async () => {
    await using stack = await startStack({
      workers: 1,
      sim: { ttftMs: 0, itlMs: 20 },
      gateway: { metrics: true },
    });
    const abort = new AbortController();
    const stream = await stack
      .client()
      .chat.completions.create(
        { model: 'sim', messages, max_tokens: 200, stream: true },
        { signal: abort.signal },
      );
    let seen = 0;
    try {
      for await (const _ of stream) if (++seen === 3) abort.abort();
    } catch {
      // The SDK may end the aborted stream quietly or throw; either way the client is gone.
    }
    assert.equal(seen, 3, 'the stream was cut after three chunks');
    const url = `${stack.url}/metrics`;
    const until = Date.now() + 10_000;
    let m = await scrape(url);
    while (m.sum('llmwire_gateway_cancellations_total') !== 1) {
      assert.ok(Date.now() < until, 'the cancellation was counted within 10 s');
      await new Promise((r) => setTimeout(r, 20));
      m = await scrape(url);
    }
    assert.equal(m.sum('llmwire_gateway_request_errors_total', { code: 'cancelled' }), 1);
    assert.equal(m.sum('llmwire_gateway_requests_in_flight'), 0);
  });

  test('label guard - past its limit, and for odd values, labels become other', () => {
    const guard = new LabelGuard(2, 10);
    assert.equal(guard.value('a'), 'a');
    assert.equal(guard.value('b'), 'b');
    assert.equal(guard.value('c'), 'other');
    assert.equal(guard.value('a'), 'a');
    const fresh = new LabelGuard(10, 10);
    assert.equal(fresh.value('x'.repeat(11)), 'other');
    assert.equal(fresh.value('bad"quote'), 'other');
    assert.equal(fresh.value(''), 'other');
  });

  test('a gateway without metrics has no /metrics and no dashboard', async () => {
    await using stack = await startStack({ workers: 1 });
    assert.equal((await fetch(`${stack.url}/metrics`)).status, 404);
    assert.equal((await fetch(`${stack.url}/dashboard`)).status, 404);
  });
});

describe('metrics - durable queues', () => {
  test('a watched queue reports depth, deliveries, retries and redeliveries', async (t) => {
    const transport = createMemoryTransport();
    const bus = createBus({ transport, source: 'test', onError: () => undefined });
    await using stack = await startStack({ workers: 1, gateway: { metrics: true } });
    try {
      const queue = bus.queue<{ n: number }>(`metrics-q-${process.pid}`, {
        backoff: { initialMs: 1, maxMs: 5, multiplier: 1, jitter: 0 },
        maxAttempts: 5,
      });
      stack.gateway.metrics!.watchQueue(queue);
      for (let n = 0; n < 3; n++) await queue.enqueue({ n });
      let m = await scrape(`${stack.url}/metrics`);
      assert.equal(m.sum('llmwire_queue_depth', { state: 'ready' }), 3);
      const failedOnce = new Set<number>();
      let acked = 0;
      const consumer = queue.consume(async (job) => {
        if (!failedOnce.has(job.body.n)) {
          failedOnce.add(job.body.n);
          throw new Error('first attempt fails');
        }
        acked++;
      });
      await waitUntil(() => acked === 3, 'every job to succeed on its second attempt');
      await consumer.stop();
      m = await scrape(`${stack.url}/metrics`);
      const events = 'llmwire_queue_events_total';
      assert.equal(m.sum(events, { event: 'delivered' }), 6);
      assert.equal(m.sum(events, { event: 'redelivered' }), 3);
      assert.equal(m.sum(events, { event: 'retried' }), 3);
      assert.equal(m.sum(events, { event: 'acked' }), 3);
      assert.equal(m.sum('llmwire_queue_depth', { state: 'ready' }), 0);
      await promtoolAccepts(t, m.text);
    } finally {
      await bus.close();
      await transport.close();
    }
  });
});

describe('metrics - worker process', () => {
  test('llmwire worker --metrics-port serves its own counts', TIMEOUT, async (t) => {
    await using stack = await startProcessStack({ gateway: { metrics: true } });
    const worker = await stack.startWorker('pm1', [
      '--metrics-port',
      '0',
      '--sim-ttft-ms',
      '2',
      '--sim-itl-ms',
      '1',
    ]);
    const match = /^metrics (http:\/\/\S+\/metrics)$/m.exec(worker.output());
    assert.ok(match, `the worker printed its metrics URL:\n${worker.output()}`);
    const N = 20;
    const outcomes = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        streamChat(stack.client(), { model: 'sim', messages, max_tokens: 12, seed: i }),
      ),
    );
    for (const o of outcomes) assert.equal(o.error, undefined, String(o.error));
    const deltas = outcomes.reduce((n, o) => n + o.deltas, 0);
    const m = await scrape(match[1]!);
    const w = { worker: 'pm1', model: 'sim' };
    assert.equal(m.sum('llmwire_worker_requests_total', { ...w, outcome: 'completed' }), N);
    assert.equal(m.sum('llmwire_worker_generated_tokens_total', w), deltas);
    assert.equal(m.sum('llmwire_worker_time_to_first_token_seconds_count', w), N);
    assert.equal(m.sum('llmwire_worker_in_flight', { worker: 'pm1' }) >= 0, true);
    assert.equal(m.sum('llmwire_worker_state', { worker: 'pm1', state: 'ready' }), 1);
    assert.ok(m.sum('llmwire_worker_heartbeats_sent_total', { worker: 'pm1' }) >= 1);
    await promtoolAccepts(t, m.text);
    const g = await scrape(`${stack.url}/metrics`);
    assert.equal(g.sum('llmwire_gateway_streamed_tokens_total', { worker: 'pm1' }), deltas);
  });

  test('llmwire worker refuses a metrics port out of range, naming the flag', () => {
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const r = spawnSync(process.execPath, [cli, 'worker', '--metrics-port', '70000'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /--metrics-port: expected integer to be less or equal to 65535, got 70000 \[config_invalid\]/,
    );
  });

  test('a worker killed mid-stream is counted as a failover', TIMEOUT, async () => {
    await using stack = await startProcessStack({ gateway: { metrics: true } });
    await stack.startWorker('steady');
    await stack.startCrashingWorker('crashing', { crashAfterTokens: 8 });
    // Least-outstanding spreads four concurrent streams over both workers.
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        streamChat(stack.client(), { model: 'sim', messages, max_tokens: 30, seed: i }),
      ),
    );
    for (const o of outcomes) assert.equal(o.error, undefined, String(o.error));
    const m = await scrape(`${stack.url}/metrics`);
    const moved = m.sum('llmwire_gateway_failovers_total', { worker: 'crashing' });
    assert.ok(moved >= 1, `failovers off the crashed worker: ${moved}`);
    assert.equal(m.sum('llmwire_gateway_request_errors_total'), 0);
  });
});
