// Pipelines in one process on the memory transport: each stage's output is the next one's
// input, failures are retried with backoff and then dead-lettered with the run's output saying
// where it failed, and a stage may scatter its input and gather the shards' results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBus, createPipeline, createScatter, type Bus } from '../../src/bus/index.js';
import { ConfigError, InvalidMessageError, UpstreamError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { eventually, unique } from '../conformance/harness.js';

async function memoryBus(): Promise<{ bus: Bus } & AsyncDisposable> {
  const transport = createMemoryTransport();
  const bus = createBus({ transport, onError: () => undefined });
  return {
    bus,
    async [Symbol.asyncDispose]() {
      await bus.close();
      await transport.close();
    },
  };
}

const backoff = { initialMs: 5, maxMs: 20, jitter: 0 };

test('pipeline - each stage output is the next stage input; the last is the run output', async () => {
  await using m = await memoryBus();
  const seen: string[] = [];
  const pipeline = createPipeline<string>(m.bus, {
    name: unique('p'),
    stages: [
      { name: 'trim', handler: (s: string, ctx) => (seen.push(ctx.stage), s.trim()) },
      { name: 'upper', handler: (s: string) => s.toUpperCase(), concurrency: 4 },
      { name: 'wrap', handler: (s: string, ctx) => `[${s}] ${ctx.run}` },
    ],
  });
  const runner = pipeline.run();
  const ids = await Promise.all(
    ['  a ', ' b', 'c  '].map((s, i) => pipeline.submit(s, { id: `r${i}` })),
  );
  const outputs = await Promise.all(ids.map((id) => pipeline.wait(id, { pollMs: 5 })));
  await runner.stop();
  assert.deepEqual(outputs, [
    { v: 1, status: 'done', value: '[A] r0' },
    { v: 1, status: 'done', value: '[B] r1' },
    { v: 1, status: 'done', value: '[C] r2' },
  ]);
  assert.deepEqual(seen, ['trim', 'trim', 'trim']);
  assert.deepEqual(pipeline.stages, ['trim', 'upper', 'wrap']);
});

test('pipeline - a failing stage is retried with backoff, then dead-lettered with the run failed', async () => {
  await using m = await memoryBus();
  const attempts: number[] = [];
  const pipeline = createPipeline(m.bus, {
    name: unique('p'),
    stages: [
      { name: 'first', handler: (n: number) => n + 1 },
      {
        name: 'flaky',
        retries: 2,
        backoff,
        handler: (n: number, ctx) => {
          attempts.push(ctx.attempt);
          if (n === 2 && ctx.attempt < 3) throw new UpstreamError('try again');
          if (n === 11) throw new UpstreamError('never works');
          return n * 2;
        },
      },
    ],
  });
  const runner = pipeline.run();
  const ok = await pipeline.wait(await pipeline.submit(1), { pollMs: 5 });
  assert.deepEqual(ok, { v: 1, status: 'done', value: 4 });
  assert.deepEqual(attempts, [1, 2, 3]);
  const bad = await pipeline.wait(await pipeline.submit(10), { pollMs: 5 });
  await eventually(async () => (await pipeline.queue('flaky').stats()).dead === 1);
  await runner.stop();
  assert.equal(bad.status, 'failed');
  assert.ok(
    bad.status === 'failed' && bad.stage === 'flaky' && bad.error.code === 'upstream_error',
  );
  const [dead] = await pipeline.queue('flaky').deadLetters();
  assert.equal(dead!.reason, 'max_attempts');
  assert.equal(dead!.attempts, 3);
});

test('pipeline - a non-retryable error fails the run at once', async () => {
  await using m = await memoryBus();
  let tries = 0;
  const pipeline = createPipeline(m.bus, {
    name: unique('p'),
    stages: [
      {
        name: 'strict',
        handler: () => {
          tries++;
          throw new InvalidMessageError('no');
        },
      },
    ],
  });
  const runner = pipeline.run();
  const out = await pipeline.wait(await pipeline.submit('x'), { pollMs: 5 });
  await runner.stop();
  assert.equal(out.status, 'failed');
  assert.equal(tries, 1);
  assert.equal((await pipeline.queue('strict').deadLetters())[0]!.reason, 'rejected');
});

test('pipeline - a stage scatters its input and gathers the shard results in order', async () => {
  await using m = await memoryBus();
  const words = createScatter<string, number>(m.bus, {
    name: unique('w'),
    handler: async (w) => {
      await new Promise((r) => setTimeout(r, w.length % 3));
      return w.length;
    },
  });
  const pipeline = createPipeline<number[]>(m.bus, {
    name: unique('p'),
    stages: [
      { name: 'split', handler: (text: string) => text.split(' ') },
      {
        name: 'count',
        handler: async (list: string[], ctx) => {
          const job = await words.start(list, { id: ctx.run });
          const result = await job.wait({ signal: ctx.signal, pollMs: 5 });
          if (result.status !== 'completed') throw new UpstreamError(`job ${result.status}`);
          return result.values;
        },
      },
      { name: 'total', handler: (counts: number[]) => [...counts, counts.reduce((a, b) => a + b)] },
    ],
  });
  const workers = words.work({ concurrency: 4 });
  const runner = pipeline.run();
  const out = await pipeline.wait(await pipeline.submit('a bb ccc dddd eeeee'), { pollMs: 5 });
  await runner.stop();
  await workers.stop();
  assert.deepEqual(out, { v: 1, status: 'done', value: [1, 2, 3, 4, 5, 15] });
});

test('pipeline - bad declarations are config errors', async () => {
  await using m = await memoryBus();
  const h = () => 1;
  assert.throws(() => createPipeline(m.bus, { name: 'p', stages: [] }), ConfigError);
  assert.throws(
    () =>
      createPipeline(m.bus, {
        name: 'p',
        stages: [
          { name: 'a', handler: h },
          { name: 'a', handler: h },
        ],
      }),
    ConfigError,
  );
  assert.throws(
    () => createPipeline(m.bus, { name: 'p', stages: [{ name: 'a-b', handler: h }] }),
    ConfigError,
  );
  assert.throws(
    () => createPipeline(m.bus, { name: 'p', stages: [{ name: 'a', handler: h, retries: -1 }] }),
    ConfigError,
  );
  const p = createPipeline(m.bus, { name: 'p', stages: [{ name: 'a', handler: h }] });
  assert.throws(() => p.queue('b'), ConfigError);
  assert.throws(() => p.run({ stages: ['b'] }), ConfigError);
  await assert.rejects(p.submit(1, { id: 'a.b' }), ConfigError);
});
