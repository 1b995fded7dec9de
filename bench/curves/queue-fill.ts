// Filling a durable queue to a depth fast (many enqueues in flight), and measuring enqueue +
// receive + ack at that depth: producers add while one consumer takes the oldest and acks.
import { performance } from 'node:perf_hooks';
import { createEnvelope } from '../../src/protocol/index.js';
import type { DurableQueue } from '../../src/transport/transport.js';
import { textBody } from '../fixtures.js';

export const BODY_BYTES = 256;
/** Enqueues in flight while filling: SQLite commits them in one transaction per turn. */
export const FILL_IN_FLIGHT = 8192;
export const PRODUCERS = 4;
export const WINDOW = 64;
export const RECEIVE_MAX = 256;
const STALL_MS = 60_000;

const bodies = Array.from({ length: 64 }, (_, i) => textBody(BODY_BYTES, i));

function message(queue: DurableQueue, i: number) {
  return createEnvelope({ kind: 'event', subject: queue.name, body: bodies[i & 63] });
}

/** Rejects when `p` has not settled within `ms`: a broker that stops answering ends the sweep. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([p, stall]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Enqueues up to `count` messages, FILL_IN_FLIGHT at a time, stopping early once `deadline`
 * (epoch ms) has passed; returns how many went in and at what rate.
 */
export async function fill(
  queue: DurableQueue,
  count: number,
  deadline: number,
): Promise<{ added: number; rate: number }> {
  const t0 = performance.now();
  let done = 0;
  while (done < count && Date.now() < deadline) {
    const k = Math.min(FILL_IN_FLIGHT, count - done);
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < k; i++) batch.push(queue.enqueue(message(queue, done + i)));
    await within(Promise.all(batch), STALL_MS, 'a fill batch');
    done += k;
  }
  return { added: done, rate: (done * 1000) / Math.max(1, performance.now() - t0) };
}

/**
 * Enqueues n new messages while one consumer receives and acks n (the oldest first, so the
 * depth holds); returns msgs/s, each message counted once as the sqlite-queue group counts.
 */
export async function steady(queue: DurableQueue, n: number): Promise<number> {
  const t0 = performance.now();
  let made = 0;
  const produce = async () => {
    let window: Promise<unknown>[] = [];
    while (made < n) {
      window.push(queue.enqueue(message(queue, made++)));
      if (window.length >= WINDOW) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
  };
  const consume = async () => {
    let acked = 0;
    let acks: Promise<void>[] = [];
    while (acked < n) {
      const batch = await queue.receive({ max: Math.min(RECEIVE_MAX, n - acked), waitMs: 5000 });
      if (batch.length === 0) throw new Error(`queue went quiet after ${acked} of ${n}`);
      for (const d of batch) acks.push(d.ack());
      acked += batch.length;
      if (acks.length >= PRODUCERS * WINDOW) {
        await Promise.all(acks);
        acks = [];
      }
    }
    await Promise.all(acks);
  };
  await within(
    Promise.all([...Array.from({ length: PRODUCERS }, produce), consume()]),
    STALL_MS * 2,
    'the measurement',
  );
  return (n * 1000) / (performance.now() - t0);
}
