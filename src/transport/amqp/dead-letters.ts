// Reading and managing a queue's dead letters. AMQP 0-9-1 cannot browse a queue, so a listing
// takes the letters with basic.get and, once read, gives them all back unacked (they return to
// their places); replay and purge ack the ones they move or drop and give back the rest.
// Replay and purge walk the queue until basic.get answers empty rather than for a count taken
// first: RabbitMQ answers queue.declare ahead of requeues it has not applied yet (the queue
// process serves `stat` calls out of turn), so a count taken right after a listing can miss
// every letter the listing gave back, while basic.get is served in order after them.
import type { Channel, GetMessage } from 'amqplib';
import type { Codec } from '../../codec/codec.js';
import type { DeadLetter } from '../transport.js';
import { deadLetterOf, envelopeOrStub, queuedProperties, toBuffer } from './message.js';
import type { QueueNames } from './names.js';
import type { Publisher } from './publisher.js';

/**
 * Takes up to `max` letters (every one when `max` is Infinity: until the broker answers
 * get-empty), runs `each` on them, then gives back the ones it did not ack. Letters held
 * unacked are not handed out again, so a walk of the whole queue ends.
 */
async function withLetters(
  ch: Channel,
  queue: string,
  max: number,
  each: (msg: GetMessage) => Promise<void>,
): Promise<void> {
  let held = 0;
  try {
    for (let i = 0; i < max; i++) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      held++;
      await each(msg);
    }
  } finally {
    // Requeued letters go back to their original positions, so a listing changes no order.
    if (held > 0) ch.nackAll(true);
  }
}

function idOf(msg: GetMessage, codec: Codec, queue: string): string {
  const id = msg.properties.messageId as unknown;
  return typeof id === 'string' && id.length > 0 ? id : envelopeOrStub(msg, codec, queue).id;
}

export async function listDeadLetters(
  ch: Channel,
  names: QueueNames,
  codec: Codec,
  limit: number,
): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  await withLetters(ch, names.dead, limit, (msg) => {
    out.push(deadLetterOf(msg, codec, names.dead));
    return Promise.resolve();
  });
  return out;
}

/** Moves letters back to be delivered again with attempts reset; returns how many. */
export async function replayDeadLetters(
  ch: Channel,
  names: QueueNames,
  codec: Codec,
  publisher: Publisher,
  ids: string[] | undefined,
  onReplayed: (id: string) => void,
): Promise<number> {
  const wanted = ids === undefined ? undefined : new Set(ids);
  let n = 0;
  await withLetters(ch, names.dead, Infinity, async (msg) => {
    if (wanted !== undefined && !wanted.has(idOf(msg, codec, names.dead))) return;
    let env;
    try {
      env = codec.decode(msg.content);
    } catch {
      return; // this codec cannot read it, so it cannot be replayed; it stays a dead letter
    }
    // A replayed message starts over: attempts reset, and its deadline (which may be what
    // killed it) is dropped; the operator who replays it decides it is still wanted.
    const { deadline: _d, attempt: _a, ...fresh } = env;
    const frame = toBuffer(codec.encode(fresh));
    // Keyed letters rejoin their key's order at the end; unkeyed ones go to the retry queue,
    // which has no depth limit, so a replay is never refused half way.
    const target = fresh.key === undefined ? names.retry : names.keyed;
    await publisher.publishDurable(
      '',
      target,
      frame,
      queuedProperties(fresh.id, fresh.prio, {}, 0),
    );
    ch.ack(msg);
    onReplayed(fresh.id);
    n++;
  });
  return n;
}

/** Deletes letters (all, or those ids); returns how many. */
export async function purgeDeadLetters(
  ch: Channel,
  names: QueueNames,
  codec: Codec,
  ids: string[] | undefined,
): Promise<number> {
  if (ids === undefined) return (await ch.purgeQueue(names.dead)).messageCount;
  const wanted = new Set(ids);
  let n = 0;
  await withLetters(ch, names.dead, Infinity, (msg) => {
    if (wanted.has(idOf(msg, codec, names.dead))) {
      ch.ack(msg);
      n++;
    }
    return Promise.resolve();
  });
  return n;
}
