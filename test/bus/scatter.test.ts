// Scatter-gather in one process, on the memory transport (the reference), a SQLite file, NATS
// and Redis:
// results in shard order, the partial-failure rules, progress while running, cancellation,
// idempotent starts, and a job resumed by a second bus on the same file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus, createScatter, type Bus, type ScatterProgress } from '../../src/bus/index.js';
import {
  ConfigError,
  InvalidMessageError,
  NotFoundError,
  UpstreamError,
} from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { eventually, unique } from '../conformance/harness.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams } from '../transport/fixtures/nats-server.js';
import { dropKeys, filePrefix, REDIS_URL } from '../transport/redis-harness.js';

interface Setup {
  name: string;
  transport: () => Promise<{ transport: Transport; cleanup: () => Promise<void> | void }>;
}

const SETUPS: Setup[] = [
  {
    name: 'memory',
    transport: () => Promise.resolve({ transport: createMemoryTransport(), cleanup: () => {} }),
  },
  {
    name: 'sqlite',
    transport: () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-scatter-'));
      return Promise.resolve({
        transport: createSqliteTransport({ path: join(dir, 'bus.db') }),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      });
    },
  },
];
if (await requires('scatter on nats', NEEDS.nats)) {
  SETUPS.push({
    name: 'nats',
    transport: async () => {
      const streamPrefix = `S${randomBytes(4).toString('hex')}`;
      return {
        transport: await createNatsTransport({
          servers: NATS_URL,
          streamPrefix,
          onError: () => undefined,
        }),
        cleanup: () => deleteStreams(NATS_URL, streamPrefix),
      };
    },
  });
}
if (await requires('scatter on redis', NEEDS.redis)) {
  SETUPS.push({
    name: 'redis',
    transport: () => {
      const prefix = filePrefix();
      return Promise.resolve({
        transport: createRedisTransport({ url: REDIS_URL, prefix }),
        cleanup: async () => void (await dropKeys(prefix)),
      });
    },
  });
}

async function busOn(setup: Setup): Promise<{ bus: Bus } & AsyncDisposable> {
  const { transport, cleanup } = await setup.transport();
  const bus = createBus({ transport, onError: () => undefined });
  return {
    bus,
    async [Symbol.asyncDispose]() {
      await bus.close();
      await transport.close();
      await cleanup();
    },
  };
}

const fast = { leaseMs: 2000, backoff: { initialMs: 5, maxMs: 20, jitter: 0 } };

for (const setup of SETUPS) {
  describe(`scatter (${setup.name})`, () => {
    test('scatter - gathers every shard once, in shard order, whatever order they finish in', async () => {
      await using s = await busOn(setup);
      const runs: number[] = [];
      const scatter = createScatter<number, string>(s.bus, {
        name: unique('sq'),
        queue: fast,
        handler: async (n, ctx) => {
          runs.push(ctx.shard);
          await new Promise((r) => setTimeout(r, (n * 7) % 5));
          return `v${n * n}`;
        },
      });
      const worker = scatter.work({ concurrency: 8 });
      const job = await scatter.start(Array.from({ length: 200 }, (_, i) => i));
      const result = await job.wait({ pollMs: 20 });
      await worker.stop();
      assert.equal(result.status, 'completed');
      assert.equal(result.total, 200);
      assert.deepEqual(
        result.values,
        Array.from({ length: 200 }, (_, i) => `v${i * i}`),
      );
      assert.deepEqual(result.failures, []);
      assert.equal(runs.length, 200, 'each shard ran once');
      const streamed = [];
      for await (const r of scatter.job(job.id).results()) streamed.push(r.shard);
      assert.deepEqual(
        streamed,
        Array.from({ length: 200 }, (_, i) => i),
      );
    });

    test('scatter - progress counts done and failed while the job runs', async () => {
      await using s = await busOn(setup);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const scatter = createScatter<number, number>(s.bus, {
        name: unique('sp'),
        queue: fast,
        handler: async (n) => {
          if (n === 3) throw new InvalidMessageError('shard 3 is bad');
          if (n >= 5) await gate;
          return n;
        },
      });
      const worker = scatter.work({ concurrency: 10 });
      const job = await scatter.start([0, 1, 2, 3, 4, 5, 6, 7], { failure: 'partial' });
      let seen: ScatterProgress | undefined;
      await eventually(async () => {
        seen = await job.progress();
        return seen.done === 4 && seen.failed === 1;
      });
      assert.deepEqual(seen, { status: 'running', total: 8, done: 4, failed: 1, pending: 3 });
      release();
      const updates: ScatterProgress[] = [];
      const result = await job.wait({ pollMs: 10, onProgress: (p) => updates.push(p) });
      await worker.stop();
      assert.equal(result.status, 'partial');
      assert.deepEqual(result.values, [0, 1, 2, 4, 5, 6, 7]);
      assert.equal(result.failures.length, 1);
      assert.equal(result.failures[0]!.shard, 3);
      assert.equal(result.failures[0]!.error.code, 'invalid_message');
      assert.equal(updates.at(-1)!.pending, 0);
    });

    test('scatter - fail mode stops the job at the first failed shard', async () => {
      await using s = await busOn(setup);
      const ran: number[] = [];
      const scatter = createScatter<number, number>(s.bus, {
        name: unique('sf'),
        queue: fast,
        handler: (n) => {
          ran.push(n);
          if (n === 0) throw new UpstreamError('model down');
          return n;
        },
      });
      // Queued before any worker runs, so the later shards see the stop and are skipped.
      const job = await scatter.start(Array.from({ length: 50 }, (_, i) => i));
      const worker = scatter.work({ concurrency: 1 });
      const result = await job.wait({ pollMs: 10 });
      await eventually(async () => (await scatter.queue.stats()).ready === 0);
      await worker.stop();
      assert.equal(result.status, 'failed');
      assert.equal(result.failures[0]!.shard, 0);
      assert.equal(result.failures[0]!.error.code, 'upstream_error');
      assert.ok(ran.length < 50, `shards after the failure are skipped (ran ${ran.length})`);
      assert.equal(ran.filter((n) => n === 0).length, 1, 'fail mode does not retry');
    });

    test('scatter - retry mode runs a failing shard again up to its retries', async () => {
      await using s = await busOn(setup);
      const tries = new Map<number, number>();
      const scatter = createScatter<number, number>(s.bus, {
        name: unique('sr'),
        queue: fast,
        handler: (n, ctx) => {
          tries.set(n, ctx.attempt);
          if (n === 1 && ctx.attempt < 3) throw new UpstreamError('flaky');
          if (n === 2) throw new UpstreamError('always');
          return n * 10;
        },
      });
      const worker = scatter.work({ concurrency: 4 });
      const flaky = await (
        await scatter.start([0, 1], { failure: 'retry', retries: 2 })
      ).wait({
        pollMs: 10,
      });
      assert.equal(flaky.status, 'completed');
      assert.deepEqual(flaky.values, [0, 10]);
      assert.equal(tries.get(1), 3);
      const broken = await (
        await scatter.start([2], { failure: 'retry', retries: 2 })
      ).wait({
        pollMs: 10,
      });
      await worker.stop();
      assert.equal(broken.status, 'failed');
      assert.equal(tries.get(2), 3, 'two retries after the first try, then the job fails');
    });

    test('scatter - cancel skips the shards not yet run and ends the job cancelled', async () => {
      await using s = await busOn(setup);
      let ran = 0;
      const scatter = createScatter<number, number>(s.bus, {
        name: unique('sc'),
        queue: fast,
        handler: async (n) => {
          ran++;
          await new Promise((r) => setTimeout(r, 5));
          return n;
        },
      });
      const job = await scatter.start(Array.from({ length: 100 }, (_, i) => i));
      const worker = scatter.work({ concurrency: 1 });
      await eventually(() => ran >= 5);
      await job.cancel();
      const result = await job.wait({ pollMs: 10 });
      await eventually(async () => (await scatter.queue.stats()).ready === 0);
      await worker.stop();
      assert.equal(result.status, 'cancelled');
      assert.ok(ran < 100, `ran ${ran}`);
      assert.equal(result.values.length + result.failures.length, 100, 'every shard reported');
      assert.ok(result.failures.every((f) => f.error.code === 'cancelled'));
      await job.cancel(); // a finished job stays as it is
      assert.equal((await job.progress()).status, 'cancelled');
    });

    test('scatter - starting an id again resumes that job and queues nothing twice', async () => {
      await using s = await busOn(setup);
      let ran = 0;
      const scatter = createScatter<number, number>(s.bus, {
        name: unique('si'),
        queue: fast,
        handler: (n) => (ran++, n),
      });
      const first = await scatter.start([1, 2, 3], { id: 'job-1' });
      const again = await scatter.start([1, 2, 3], { id: 'job-1' });
      assert.equal(again, first, 'one handle per job id');
      assert.equal(scatter.job('job-1'), first);
      assert.equal((await scatter.queue.stats()).ready, 3);
      const worker = scatter.work({ concurrency: 2 });
      const result = await scatter.job('job-1').wait({ pollMs: 10 });
      await worker.stop();
      assert.deepEqual(result.values, [1, 2, 3]);
      assert.equal(ran, 3);
    });

    test('scatter - bad names, ids and options are config errors; an unknown job is not_found', async () => {
      await using s = await busOn(setup);
      assert.throws(() => createScatter(s.bus, { name: 'has-dash' }), ConfigError);
      assert.throws(() => createScatter(s.bus, { name: 'ok', prefix: 'a b' }), ConfigError);
      assert.throws(
        () => createScatter(s.bus, { name: 'ok', handlr: () => 1 } as never),
        ConfigError,
      );
      const scatter = createScatter(s.bus, { name: unique('sb') });
      assert.throws(() => scatter.job('a.b'), ConfigError);
      assert.throws(() => scatter.work(), ConfigError, 'no handler to work with');
      await assert.rejects(scatter.start([1], { id: 'x y' }), ConfigError);
      await assert.rejects(scatter.start([1], { priority: 10 }), ConfigError);
      await assert.rejects(scatter.start([1], { failure: 'ignore' as never }), ConfigError);
      await assert.rejects(scatter.start([1], { retries: 30 }), ConfigError);
      await assert.rejects(scatter.job('nope').progress(), NotFoundError);
    });

    test('scatter - a message that is not a shard is dead-lettered, not run', async () => {
      await using s = await busOn(setup);
      let ran = 0;
      const scatter = createScatter(s.bus, {
        name: unique('sx'),
        queue: fast,
        handler: () => ran++,
      });
      const worker = scatter.work();
      await scatter.queue.enqueue({ job: 'j', shard: -1 } as never);
      await eventually(async () => (await scatter.queue.stats()).dead === 1);
      await worker.stop();
      assert.equal(ran, 0);
      const [dead] = await scatter.queue.deadLetters();
      assert.equal(dead!.reason, 'rejected');
      assert.equal(dead!.error?.code, 'invalid_message');
    });
  });
}

test('scatter (sqlite) - a job started by one bus is finished by another on the same file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-scatter-resume-'));
  try {
    const path = join(dir, 'bus.db');
    const name = unique('rs');
    const first = createSqliteTransport({ path });
    const a = createBus({ transport: first, onError: () => undefined });
    const starter = createScatter<number, number>(a, { name, queue: fast });
    const job = await starter.start([5, 6, 7, 8], { id: 'resumed' });
    await a.close();
    await first.close();

    const second = createSqliteTransport({ path });
    const b = createBus({ transport: second, onError: () => undefined });
    const worker = createScatter<number, number>(b, { name, queue: fast, handler: (n) => n + 1 });
    const consumer = worker.work({ concurrency: 2 });
    const result = await worker.job(job.id).wait({ pollMs: 10 });
    await consumer.stop();
    await b.close();
    await second.close();
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.values, [6, 7, 8, 9]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
