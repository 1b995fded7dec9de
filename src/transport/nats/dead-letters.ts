// Dead letters of one queue, kept in their own limits-retention stream: one message per letter
// on `<dlqRoot>.<id token>`, the original frame as payload and why it died in headers (reason,
// attempts, last error, time), so they can be read, replayed or purged by id.
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { isErrorCode, type Envelope, type WireErrorBody } from '../../protocol/index.js';
import type { DeadLetter, DeadLetterReason } from '../transport.js';
import { ackVerb, brokerError, publishDurable, type NatsContext } from './context.js';
import { classOf, HEADER, idToken, keyToken, readySubject, type QueueNames } from './names.js';
import { nextBySubject, type AckInfo } from './pull.js';

export interface DeadInput {
  /** The frame as it was enqueued. */
  readonly data: Uint8Array;
  readonly id: string;
  readonly reason: DeadLetterReason;
  readonly attempts: number;
  readonly error?: WireErrorBody | undefined;
  /** Work-stream sequence it came from: makes a retried move land once. */
  readonly sourceSeq: number;
}

/** Stores one dead letter; resolves once JetStream has it. */
export async function storeDeadLetter(
  ctx: NatsContext,
  names: QueueNames,
  input: DeadInput,
): Promise<void> {
  const h = headers();
  h.set(HEADER.id, input.id);
  h.set(HEADER.deadReason, input.reason);
  h.set(HEADER.deadAttempts, String(input.attempts));
  h.set(HEADER.deadAt, String(Date.now()));
  if (input.error !== undefined) h.set(HEADER.deadError, asciiJson(input.error));
  const subject = `${names.dlqRoot}.${idToken(input.id)}`;
  await publishDurable(ctx, subject, input.data, h, `${input.id}:dead:${input.sourceSeq}`);
}

/** Dead-letters a pulled message: stored in the dead-letter stream, then acked off the queue. */
export async function buryPulled(
  ctx: NatsContext,
  names: QueueNames,
  m: Msg,
  info: AckInfo,
  why: { reason: DeadLetterReason; attempts: number; error: WireErrorBody | undefined },
): Promise<void> {
  await storeDeadLetter(ctx, names, {
    data: m.data,
    id: m.headers?.get(HEADER.id) || `seq-${info.streamSeq}`,
    reason: why.reason,
    attempts: Math.max(0, why.attempts),
    error: why.error,
    sourceSeq: info.streamSeq,
  });
  await ackVerb(ctx, info.reply, '+ACK');
}

/** Header values are one line of text: JSON with everything outside ASCII escaped. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function parseError(text: string | undefined): WireErrorBody | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<WireErrorBody>;
    if (isErrorCode(v.code) && typeof v.message === 'string' && typeof v.retryable === 'boolean') {
      return v as WireErrorBody;
    }
  } catch {
    // A damaged header loses the error, not the letter.
  }
  return undefined;
}

const REASONS = new Set<string>(['max_attempts', 'expired', 'rejected']);

interface StoredLetter {
  readonly seq: number;
  readonly letter: DeadLetter;
}

/** Reads, replays and purges the dead letters of one queue. */
export class DeadLetterBox {
  constructor(
    private readonly ctx: NatsContext,
    private readonly names: QueueNames,
    /** Tells receivers that replayed messages are there. */
    private readonly nudge: () => void,
  ) {}

  async list(limit = 100): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for await (const s of this.scan(`${this.names.dlqRoot}.>`)) {
      if (out.length >= limit) break;
      out.push(s.letter);
    }
    return out;
  }

  async replay(ids?: string[]): Promise<number> {
    const targets = ids === undefined ? await this.all() : await this.byIds(ids);
    let n = 0;
    for (const { seq, letter } of targets) {
      // A replayed message starts over: attempts reset and its deadline (which may be what
      // killed it) dropped, as the memory transport does.
      const { deadline: _d, attempt: _a, ...env } = letter.envelope;
      await this.requeue(env, `${env.id}:replay:${seq}`);
      this.nudge();
      try {
        await this.ctx.jsm.streams.deleteMessage(this.names.dlqStream, seq);
      } catch (err) {
        throw brokerError(err, 'dead-letter delete');
      }
      n++;
    }
    return n;
  }

  /** Puts a message back on the queue as new; `msgId` makes a retried replay land once. */
  private async requeue(env: Envelope, msgId: string): Promise<void> {
    const token = env.key === undefined ? undefined : keyToken(env.key);
    const h = headers();
    h.set(HEADER.id, env.id);
    if (token !== undefined) h.set(HEADER.key, token);
    const subject = readySubject(this.names, classOf(env.prio), token);
    await publishDurable(this.ctx, subject, this.ctx.codec.encode(env), h, msgId);
  }

  async purge(ids?: string[]): Promise<number> {
    try {
      if (ids === undefined) return (await this.ctx.jsm.streams.purge(this.names.dlqStream)).purged;
      let n = 0;
      for (const id of new Set(ids)) {
        const filter = `${this.names.dlqRoot}.${idToken(id)}`;
        n += (await this.ctx.jsm.streams.purge(this.names.dlqStream, { filter })).purged;
      }
      return n;
    } catch (err) {
      throw brokerError(err, 'dead-letter purge');
    }
  }

  async count(): Promise<number> {
    return (await this.ctx.jsm.streams.info(this.names.dlqStream)).state.messages;
  }

  private async all(): Promise<StoredLetter[]> {
    const out: StoredLetter[] = [];
    for await (const s of this.scan(`${this.names.dlqRoot}.>`)) out.push(s);
    return out;
  }

  private async byIds(ids: string[]): Promise<StoredLetter[]> {
    const out: StoredLetter[] = [];
    for (const id of new Set(ids)) {
      for await (const s of this.scan(`${this.names.dlqRoot}.${idToken(id)}`)) {
        if (s.letter.envelope.id === id) out.push(s);
      }
    }
    return out;
  }

  /** Dead letters on `filter` in the order they died; one API call each (JetStream 2.9). */
  private async *scan(filter: string): AsyncGenerator<StoredLetter> {
    let seq = 0;
    for (;;) {
      let m;
      try {
        m = await this.ctx.jsm.streams.getMessage(this.names.dlqStream, nextBySubject(filter, seq));
      } catch (err) {
        throw brokerError(err, 'dead-letter read');
      }
      if (m === null) return;
      seq = m.seq + 1;
      const letter = this.decode(m.data, m.header);
      if (letter !== undefined) yield { seq: m.seq, letter };
    }
  }

  private decode(data: Uint8Array, h: MsgHdrs | undefined): DeadLetter | undefined {
    let envelope: Envelope;
    try {
      envelope = this.ctx.codec.decode(data);
    } catch (err) {
      this.ctx.onError(err);
      return undefined;
    }
    const reason = h?.get(HEADER.deadReason) ?? '';
    const error = parseError(h?.get(HEADER.deadError));
    return {
      envelope,
      reason: (REASONS.has(reason) ? reason : 'rejected') as DeadLetterReason,
      attempts: Number(h?.get(HEADER.deadAttempts) ?? 0) || 0,
      deadAt: Number(h?.get(HEADER.deadAt) ?? 0) || 0,
      ...(error === undefined ? {} : { error }),
    };
  }
}
