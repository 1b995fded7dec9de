// Delayed enqueues. JetStream 2.9 cannot hold a message back until a time, so a delayed message
// waits on the queue's `<root>.d` subject, whose consumer nak()s it until it is due; then it is
// moved (published again, under a dedup id, then acked) to its class subject. Moving, rather than
// leaving it where a class consumer would nak it, keeps the class consumer's delivery count equal
// to the real attempts.
import { headers, nanos, type Msg } from '@nats-io/transport-node';
import { ackVerb, publishDurable, type NatsContext } from './context.js';
import { HEADER, headerNumber, isPriorityClass, readySubject, type QueueNames } from './names.js';
import { parseAckSubject, type AckInfo } from './pull.js';
import type { Waker } from './waker.js';

export interface DelayedDeps {
  readonly ctx: NatsContext;
  readonly names: QueueNames;
  /** The queue dedups by message id: a move retried after a crash lands once. */
  readonly dedup: boolean;
  readonly waker: Waker;
  /** Dead-letters a message that expired while it waited. */
  kill(m: Msg, info: AckInfo): Promise<void>;
}

/** Handles delayed messages pulled from the `d` consumer: moves the due, sends back the rest. */
export async function moveDue(deps: DelayedDeps, msgs: Msg[]): Promise<void> {
  await Promise.all(
    msgs.map((m) => moveOne(deps, m).catch((err: unknown) => deps.ctx.onError(err))),
  );
}

async function moveOne(deps: DelayedDeps, m: Msg): Promise<void> {
  const { ctx, names } = deps;
  const info = parseAckSubject(m.reply ?? '');
  if (info === undefined) return;
  const now = Date.now();
  const notBefore = headerNumber(m, HEADER.notBefore) ?? 0;
  if (notBefore > now) {
    ctx.nc.publish(info.reply, `-NAK ${JSON.stringify({ delay: nanos(notBefore - now) })}`);
    deps.waker.at(notBefore);
    return;
  }
  const expiresAt = headerNumber(m, HEADER.expires) ?? Number.POSITIVE_INFINITY;
  if (expiresAt <= now) {
    await deps.kill(m, info);
    return;
  }
  const id = m.headers?.get(HEADER.id) ?? '';
  const token = m.headers?.get(HEADER.key) || undefined;
  const clsHeader = m.headers?.get(HEADER.class);
  const cls = isPriorityClass(clsHeader) ? clsHeader : 'n';
  const h = headers();
  for (const name of [HEADER.id, HEADER.expires, HEADER.key]) {
    const v = m.headers?.get(name);
    if (v) h.set(name, v);
  }
  const msgId = deps.dedup && id !== '' ? `${id}:due` : undefined;
  await publishDurable(ctx, readySubject(names, cls, token), m.data, h, msgId);
  await ackVerb(ctx, info.reply, '+ACK');
  deps.waker.wake();
}
