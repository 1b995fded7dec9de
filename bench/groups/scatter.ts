// The scatter group: what scatter-gather (createScatter) costs over the durable queue and record
// store it is made of. A job of n shards started, worked and waited for, against the same queue
// and store driven by hand with the least the same guarantee needs: enqueue n messages, consume
// them, write one record per message, count them done. On a SQLite file and on NATS.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as natsConnect } from '@nats-io/transport-node';
import { createBus, createScatter, type Bus } from '../../src/bus/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NATS_URL } from '../../test/helpers/broker-urls.js';
import { deleteStreams } from '../../test/transport/fixtures/nats-server.js';
import type { BenchGroup, GroupContext } from '../group.js';
import type { Work } from '../harness.js';

const CONCURRENCY = 16;
/** How often the job's records are read while waiting: short, so rounds are not poll-bound. */
const POLL_MS = 10;
const encoder = new TextEncoder();

/** A scatter job of n shards per round; the workers run throughout. */
function scatterWork(bus: Bus): { work: Work; stop: () => Promise<void> } {
  const scatter = createScatter<number, number>(bus, {
    name: `bench_${randomBytes(4).toString('hex')}`,
    handler: (n) => n * 2,
  });
  const consumer = scatter.work({ concurrency: CONCURRENCY });
  const work: Work = async (n) => {
    const job = await scatter.start(
      Array.from({ length: n }, (_, i) => i),
      { failure: 'partial' },
    );
    const result = await job.wait({ pollMs: POLL_MS });
    if (result.values.length !== n)
      throw new Error(`job ${result.status}: ${result.values.length}`);
  };
  return { work, stop: () => consumer.stop() };
}

/** The same queue and store by hand: one message and one record per item, no job records. */
function handWork(bus: Bus): { work: Work; stop: () => Promise<void> } {
  const name = `bench_hand_${randomBytes(4).toString('hex')}`;
  const queue = bus.queue<{ round: number; i: number }>(name);
  const store = bus.transport.records!(name);
  const waiting = new Map<number, { left: number; done: () => void }>();
  const consumer = queue.consume(
    async (job) => {
      const { round, i } = job.body;
      await store.put(`r${round}.${i}`, encoder.encode(JSON.stringify({ ok: true, value: i * 2 })));
      const w = waiting.get(round);
      if (w !== undefined && --w.left === 0) w.done();
    },
    { concurrency: CONCURRENCY },
  );
  let rounds = 0;
  const work: Work = async (n) => {
    const round = rounds++;
    const done = new Promise<void>((resolve) => waiting.set(round, { left: n, done: resolve }));
    const enqueues: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) enqueues.push(queue.enqueue({ round, i }));
    await Promise.all(enqueues);
    await done;
    waiting.delete(round);
  };
  return { work, stop: () => consumer.stop() };
}

async function measure(ctx: GroupContext, label: string, transport: Transport): Promise<void> {
  const bus = createBus({ transport, onError: () => undefined });
  const subject = scatterWork(bus);
  const baseline = handWork(bus);
  try {
    await ctx.rate({
      name: `scatter-gather, ${CONCURRENCY} at once (${label})`,
      unit: 'shards/s',
      subject: subject.work,
      baselineName: 'the same queue + a record per message, by hand',
      baseline: baseline.work,
      minN: 64,
      roundScale: 4,
    });
  } finally {
    await subject.stop();
    await baseline.stop();
    await bus.close();
    await transport.close();
  }
}

async function natsProblem(): Promise<string | undefined> {
  try {
    const nc = await natsConnect({ servers: NATS_URL, maxReconnectAttempts: 0, timeout: 2_000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return `no NATS at ${NATS_URL} (${(err as Error).message.split('\n')[0]})`;
  }
}

export const scatterGroup: BenchGroup = {
  name: 'scatter',
  about:
    'Scatter-gather (createScatter): each round starts a job of n shards (handler: n * 2), ' +
    `runs them ${CONCURRENCY} at once in the same process and waits for the gathered answer ` +
    `(records read every ${POLL_MS} ms). Baseline: the same durable queue and record store ` +
    `driven by hand: n messages enqueued, consumed ${CONCURRENCY} at once, one record put per ` +
    'message, a counter for the end. The ratio is what the job records, the per-shard checks ' +
    '(stop, earlier result) and reading the results back in order cost. On a temporary SQLite ' +
    'file, and on NATS when it answers. Rounds are four times the usual length.',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-scatter-'));
    try {
      await measure(ctx, 'SQLite file', createSqliteTransport({ path: join(dir, 'bus.db') }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const problem = await natsProblem();
    if (problem !== undefined) ctx.log(`NATS skipped: ${problem}`);
    else {
      const streamPrefix = `BSC${randomBytes(3).toString('hex')}`;
      try {
        await measure(ctx, 'NATS', await createNatsTransport({ servers: NATS_URL, streamPrefix }));
      } finally {
        await deleteStreams(NATS_URL, streamPrefix);
      }
    }
    return { rows: ctx.rows };
  },
};
