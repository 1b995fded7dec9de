// A consumer far slower than its producer, both in this process on the amqp transport: the
// backlog must pile up in the broker, not here. The consumer's buffer is bounded by its
// prefetch; the producer's by the confirm window (enqueue resolves on the broker's confirm, so
// a producer that awaits its enqueues cannot run ahead of what the broker has stored).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createBus } from '../../src/bus/index.js';
import { createCodec } from '../../src/codec/index.js';
import { namespace, openTransport, withBroker } from './amqp-harness.js';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const BODY_BYTES = 12 * 1024; // under the codec's compression threshold: no CPU spent on gzip
const MESSAGES = 16_000; // about 190 MiB in all
const PRODUCERS = 64; // enqueues awaiting their confirm at once

/** Bytes this process holds that a backlog would show up in: JS heap and Buffers. */
function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** What is still referenced: V8 frees Buffer memory a moment after the collection that found it dead. */
async function live(): Promise<number> {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  return held();
}

await withBroker('amqp transport backpressure', () => {
  describe('amqp - a slow consumer', () => {
    test(
      'memory stays bounded on both sides while the backlog waits in the broker',
      { timeout: 90_000 },
      async (t) => {
        const exchange = namespace();
        const codec = createCodec({ encoding: 'msgpack', compression: false });
        await using producerSide = await openTransport({ exchange, codec });
        await using consumerSide = await openTransport({
          exchange,
          codec,
          prefetch: 16,
          deleteOnClose: false,
        });
        const producer = createBus({ transport: producerSide });
        const consumer = createBus({ transport: consumerSide });
        const pq = producer.queue<Uint8Array>('slow');
        const cq = consumer.queue<Uint8Array>('slow', { leaseMs: 60_000 });
        const body = randomBytes(BODY_BYTES);

        const baseline = { held: await live(), rss: process.memoryUsage().rss };
        let peakHeld = baseline.held;
        let peakLive = baseline.held;
        let peakRss = baseline.rss;
        const sampler = setInterval(() => {
          peakHeld = Math.max(peakHeld, held());
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        }, 25);
        // What is still referenced, garbage aside: a backlog held here would show up in it.
        let sampling = true;
        const liveSampler = (async () => {
          while (sampling) {
            await sleep(300);
            peakLive = Math.max(peakLive, await live());
          }
        })();

        let consumed = 0;
        const slow = cq.consume(
          async () => {
            await sleep(5);
            consumed++;
          },
          { concurrency: 2, waitMs: 100 },
        );

        const started = Date.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: PRODUCERS }, async () => {
            while (next < MESSAGES) {
              next++;
              await pq.enqueue(body);
            }
          }),
        );
        const producedIn = Date.now() - started;
        const backlog = (await pq.stats()).ready;
        clearInterval(sampler);
        sampling = false;
        await liveSampler;
        const endLive = (await live()) - baseline.held;
        await slow.stop();

        const produced = MESSAGES * BODY_BYTES;
        const grewHeld = peakHeld - baseline.held;
        const grewLive = peakLive - baseline.held;
        const grewRss = peakRss - baseline.rss;
        const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
        t.diagnostic(
          `produced ${mib(produced)} in ${producedIn} ms; consumed ${consumed}; broker backlog ` +
            `${backlog}; grew: heap+buffers ${mib(grewHeld)} (live after gc: ${mib(grewLive)} at ` +
            `most, ${mib(endLive)} at the end), rss ${mib(grewRss)}`,
        );
        assert.ok(consumed < MESSAGES / 2, 'the consumer really was the slow side');
        assert.ok(backlog > MESSAGES / 2, 'the backlog waited in the broker');
        // Bounds far below the ~190 MiB that went through (and the ~180 MiB of backlog): what
        // may be held is the prefetch (3 x 16 messages), the enqueues awaiting confirms (64),
        // socket and encoder buffers, and the dedup window's ids (about 150 bytes each).
        assert.ok(endLive < 12 * MiB, `live heap and buffers grew ${mib(endLive)} by the end`);
        assert.ok(grewLive < 16 * MiB, `live heap and buffers grew ${mib(grewLive)}`);
        assert.ok(grewHeld < 64 * MiB, `heap and buffers grew ${mib(grewHeld)}`);
        assert.ok(grewRss < 160 * MiB, `rss grew ${mib(grewRss)}`);
        await consumer.close();
        await producer.close();
      },
    );
  });
});
