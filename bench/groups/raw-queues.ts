// Baselines of the brokers-queue group: each broker's own client doing the durable publish and
// consume the llmwire queue does, written as an application on that client would write it.
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Queue, Worker } from 'bullmq';
import type { Work } from '../harness.js';

/** Counts consumed messages and lets a batch wait until its share has arrived. */
export class Counter {
  private count = 0;
  private waiter: { at: number; resolve: () => void } | undefined;

  add(k = 1): void {
    this.count += k;
    if (this.waiter !== undefined && this.count >= this.waiter.at) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve();
    }
  }

  get value(): number {
    return this.count;
  }

  until(at: number, timeoutMs = 30_000): Promise<void> {
    if (this.count >= at) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`consumer went quiet at ${this.count} of ${at}`)),
        timeoutMs,
      );
      this.waiter = {
        at,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

/** Runs n sends from `producers` producers, each with at most `window` unconfirmed. */
export async function produce(
  n: number,
  producers: number,
  window: number,
  send: (i: number) => Promise<unknown>,
): Promise<void> {
  let made = 0;
  const one = async () => {
    let pending: Promise<unknown>[] = [];
    while (made < n) {
      pending.push(send(made++));
      if (pending.length >= window) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
  };
  await Promise.all(Array.from({ length: producers }, one));
}

export interface RawQueue {
  work: Work;
  close(): Promise<void>;
}

export interface Shape {
  producers: number;
  window: number;
  frames: readonly Uint8Array[];
}

/** A batch of n: `send` n times in the shape's producers and window, then wait until n more were consumed. */
function batches(
  counter: Counter,
  shape: Shape,
  send: () => Promise<unknown>,
): (n: number) => Promise<void> {
  return async (n) => {
    const target = counter.value + n;
    await produce(n, shape.producers, shape.window, send);
    await counter.until(target);
  };
}

/** JetStream: a file stream, PubAck per publish, a durable pull consumer via consume(), ackAck. */
export async function rawJetStream(url: string, name: string, shape: Shape): Promise<RawQueue> {
  const nc = await natsConnect({ servers: url, name: `bench-raw-js-${name}` });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const subject = `bench.raw.${name}`;
  await jsm.streams.add({ name, subjects: [subject], storage: 'file' });
  await jsm.consumers.add(name, { durable_name: 'work', ack_policy: AckPolicy.Explicit });
  const consumer = await js.consumers.get(name, 'work');
  const messages = await consumer.consume({ max_messages: 256 });
  const counter = new Counter();
  const loop = (async () => {
    // Acks are confirmed concurrently, as the llmwire consumer's are; counted once confirmed.
    for await (const m of messages) {
      m.ackAck().then(
        () => counter.add(),
        () => undefined,
      );
    }
  })();
  let seq = 0;
  return {
    work: batches(counter, shape, () => {
      const i = seq++;
      return js.publish(subject, shape.frames[i & 63], { msgID: `${name}-${i}` });
    }),
    async close() {
      await messages.close();
      await loop.catch(() => undefined);
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.drain();
    },
  };
}

/**
 * RabbitMQ: a durable queue, persistent messages on a confirm channel, manual acks; with
 * `maxPriority`, a priority queue (x-max-priority) like the one llmwire declares.
 */
export async function rawAmqp(
  url: string,
  name: string,
  shape: Shape,
  prefetch: number,
  maxPriority?: number,
): Promise<RawQueue> {
  const conn = await amqp.connect(url);
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  await pub.assertQueue(name, {
    durable: true,
    ...(maxPriority === undefined ? {} : { arguments: { 'x-max-priority': maxPriority } }),
  });
  await sub.prefetch(prefetch);
  const counter = new Counter();
  await sub.consume(
    name,
    (m) => {
      if (m === null) return;
      sub.ack(m);
      counter.add();
    },
    { noAck: false },
  );
  let seq = 0;
  const send = () =>
    new Promise<void>((resolve, reject) => {
      const i = seq++;
      pub.sendToQueue(
        name,
        Buffer.from(shape.frames[i & 63]!),
        { persistent: true, messageId: `${name}-${i}` },
        (err) => (err ? reject(err as Error) : resolve()),
      );
    });
  return {
    work: batches(counter, shape, send),
    async close() {
      await sub.close();
      await pub.deleteQueue(name).catch(() => undefined);
      await pub.close();
      await conn.close();
    },
  };
}

/** BullMQ: Queue.add per job, a Worker completing each (removed on completion). */
export async function rawBullmq(
  url: string,
  name: string,
  shape: Shape,
  concurrency: number,
): Promise<RawQueue> {
  const u = new URL(url);
  const connection = { host: u.hostname, port: Number(u.port || 6379) };
  const prefix = `bench-bull-${name}`;
  const queue = new Queue(name, { connection, prefix });
  const counter = new Counter();
  const worker = new Worker(
    name,
    async (job) => {
      counter.add();
      return job.id;
    },
    { connection, prefix, concurrency, removeOnComplete: { count: 0 } },
  );
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  const bodies = shape.frames.map((f) => JSON.parse(Buffer.from(f).toString()) as unknown);
  let seq = 0;
  return {
    work: batches(counter, shape, () => {
      const i = seq++;
      return queue.add('job', bodies[i & 63], { jobId: `${name}-${i}`, removeOnComplete: true });
    }),
    async close() {
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    },
  };
}
