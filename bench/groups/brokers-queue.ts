// The brokers-queue group: durable publish + consume through the llmwire queue on each broker
// (JetStream, RabbitMQ, Redis Streams) against that broker's own client doing the same work in
// the same run. Each side gets names of its own per run, removed afterwards.
import { randomBytes } from 'node:crypto';
import { createEnvelope } from '../../src/protocol/index.js';
import { createAmqpTransport } from '../../src/transport/amqp/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import type { DurableQueue, Transport } from '../../src/transport/transport.js';
import { textBody } from '../fixtures.js';
import {
  amqpProblem,
  deleteKeys,
  deleteStreams,
  natsProblem,
  redisProblem,
} from '../load/brokers.js';
import type { BenchGroup, GroupContext } from '../group.js';
import type { Target, Work } from '../harness.js';
import { AMQP_URL, NATS_URL, REDIS_URL } from '../../test/helpers/broker-urls.js';
import {
  produce,
  rawAmqp,
  rawBullmq,
  rawJetStream,
  type RawQueue,
  type Shape,
} from './raw-queues.js';

const BODY_BYTES = 256;
const PRODUCERS = 4;
const WINDOW = 64;
const RECEIVE_MAX = 32;
const bodies = Array.from({ length: 64 }, (_, i) => textBody(BODY_BYTES, i));
const frames = bodies.map((b) => Buffer.from(JSON.stringify(b)));
const shape: Shape = { producers: PRODUCERS, window: WINDOW, frames };

/** Producers enqueue with a window each; one consumer receives and acks until n are done. */
function llmwireWork(queue: DurableQueue): Work {
  return async (n) => {
    const consume = async () => {
      let acked = 0;
      let acks: Promise<void>[] = [];
      while (acked < n) {
        const batch = await queue.receive({ max: RECEIVE_MAX, waitMs: 5_000 });
        if (batch.length === 0) throw new Error(`queue went quiet after ${acked} of ${n}`);
        for (const d of batch) acks.push(d.ack());
        acked += batch.length;
        if (acks.length >= WINDOW * PRODUCERS) {
          await Promise.all(acks);
          acks = [];
        }
      }
      await Promise.all(acks);
    };
    const enqueue = (i: number) =>
      queue.enqueue(createEnvelope({ kind: 'event', subject: queue.name, body: bodies[i & 63] }));
    await Promise.all([produce(n, PRODUCERS, WINDOW, enqueue), consume()]);
  };
}

interface Broker {
  name: string;
  /** Why the broker cannot be used, or undefined when it answers. */
  problem(): Promise<string | undefined>;
  transport(run: string): Promise<Transport>;
  raw(run: string): Promise<RawQueue>;
  rawName: string;
  target: Target;
  /** A second baseline with the broker features llmwire's queue uses (report only). */
  like?: { name: string; raw(run: string): Promise<RawQueue> };
  /** Removes what the llmwire side left (streams, keys) beyond what its close removes. */
  cleanup(run: string): Promise<void>;
}

const message = (err: unknown) => (err as Error).message.split('\n')[0] ?? String(err);

const jetStream: Broker = {
  name: 'JetStream',
  problem: natsProblem,
  transport: (run) => createNatsTransport({ servers: NATS_URL, streamPrefix: `BENCH${run}` }),
  raw: (run) => rawJetStream(NATS_URL, `BENCHRAW${run}`, shape),
  rawName: 'raw @nats-io/jetstream: publish + PubAck, consume() + ackAck',
  target: { on: 'ratio', min: 0.85 },
  cleanup: (run) => deleteStreams(`BENCH${run}_`),
};

const rabbit: Broker = {
  name: 'RabbitMQ',
  problem: amqpProblem,
  async transport(run) {
    const t = createAmqpTransport({ url: AMQP_URL, exchange: `bench-${run}`, deleteOnClose: true });
    await t.ready;
    return t;
  },
  raw: (run) => rawAmqp(AMQP_URL, `bench-raw-${run}`, shape, 32),
  rawName: 'raw amqplib: persistent sendToQueue on a confirm channel, manual acks, prefetch 32',
  target: { on: 'ratio', min: 0.85 },
  // llmwire's queue is a priority queue (x-max-priority 9) so that `prio` orders delivery;
  // RabbitMQ keeps a sub-queue per level, which costs the broker on every message.
  like: {
    name: 'raw amqplib, same, on a priority queue (x-max-priority 9) as llmwire declares',
    raw: (run) => rawAmqp(AMQP_URL, `bench-rawp-${run}`, shape, 32, 9),
  },
  cleanup: () => Promise.resolve(),
};

const redisStreams: Broker = {
  name: 'Redis Streams',
  problem: redisProblem,
  transport: (run) =>
    Promise.resolve(createRedisTransport({ url: REDIS_URL, prefix: `bench:${run}:` })),
  raw: (run) => rawBullmq(REDIS_URL, `bench-${run}`, shape, RECEIVE_MAX),
  rawName: `BullMQ: Queue.add, Worker (concurrency ${RECEIVE_MAX}) removing completed jobs`,
  target: { on: 'ratio', min: 1 },
  cleanup: (run) => deleteKeys(`bench:${run}:`),
};

async function measure(ctx: GroupContext, broker: Broker): Promise<void> {
  const problem = await broker.problem();
  if (problem !== undefined) {
    ctx.log(`skipped ${broker.name}: ${problem}`);
    return;
  }
  const run = randomBytes(4).toString('hex');
  const transport = await broker.transport(run);
  let raw: RawQueue | undefined;
  try {
    raw = await broker.raw(run);
    await ctx.rate({
      name: `${broker.name}: durable publish + consume, ${BODY_BYTES}-byte bodies`,
      unit: 'msgs/s',
      subject: llmwireWork(transport.queue(`bench-${run}`)),
      baselineName: broker.rawName,
      baseline: raw.work,
      minN: PRODUCERS * WINDOW,
      roundScale: 4,
      target: broker.target,
    });
    if (broker.like !== undefined) {
      await raw.close();
      raw = await broker.like.raw(run);
      await ctx.rate({
        name: `${broker.name}: durable publish + consume, ${BODY_BYTES}-byte bodies`,
        unit: 'msgs/s',
        subject: llmwireWork(transport.queue(`bench-${run}`)),
        baselineName: broker.like.name,
        baseline: raw.work,
        minN: PRODUCERS * WINDOW,
        roundScale: 4,
      });
    }
  } finally {
    await raw?.close();
    await transport.close();
    await broker.cleanup(run).catch((err: unknown) => ctx.log(`cleanup: ${message(err)}`));
  }
}

export const brokersQueueGroup: BenchGroup = {
  name: 'brokers-queue',
  about:
    `Durable queues on real brokers: ${PRODUCERS} producers each keep ${WINDOW} enqueues ` +
    `unconfirmed (${BODY_BYTES}-byte JSON bodies) while one consumer takes them and acks each. ` +
    'llmwire: `transport.queue(...)` enqueue (resolves once the broker has stored it), receive ' +
    `up to ${RECEIVE_MAX}, ack. Baselines, same broker and run, names of their own: JetStream ` +
    '(file stream, PubAck per publish with a msgID, durable pull consumer via consume(), ' +
    'ackAck); RabbitMQ (durable queue, persistent messages on a confirm channel, manual acks, ' +
    `prefetch 32, as the adapter's default; a second RabbitMQ row puts the same raw client on ` +
    'a priority queue, x-max-priority 9, which is what the adapter declares so that `prio` ' +
    'orders delivery, and RabbitMQ keeps a sub-queue per level (the row shows what that ' +
    `costs); Redis (BullMQ 6 Queue.add and a Worker with ` +
    `concurrency ${RECEIVE_MAX}, completed jobs removed). A broker that does not answer is ` +
    'skipped with a printed line. Rounds are four times the usual length.',
  async run(ctx) {
    for (const broker of [jetStream, rabbit, redisStreams]) await measure(ctx, broker);
    if (ctx.rows.length === 0) return { skipped: 'no broker answered' };
    return { rows: ctx.rows };
  },
};
