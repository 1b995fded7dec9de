// One no-wait pull from a JetStream pull consumer, spoken directly on the JetStream API subject:
// nats.js's fetch() waits at least a second, and a receive must be able to return at once.
// Pulled messages arrive with their stream subject on a private inbox, so each pull gets its own.
import type { MsgRequest } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { nuid } from '@nats-io/transport-node';
import { NotFoundError, UnavailableError } from '../../protocol/index.js';
import { PULL_ROOT } from './names.js';

/** What a pulled message's ack subject says about it. */
export interface AckInfo {
  /** The ack subject itself. */
  readonly reply: string;
  readonly stream: string;
  readonly consumer: string;
  /** How many times the consumer has delivered it, this time included. */
  readonly delivered: number;
  readonly streamSeq: number;
}

/**
 * Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` and the v2 form
 * with a domain and account hash after `$JS.ACK` (ADR-15).
 */
export function parseAckSubject(reply: string): AckInfo | undefined {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  const at = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (at < 0) return undefined;
  const delivered = Number(t[at + 2]);
  const streamSeq = Number(t[at + 3]);
  if (!Number.isSafeInteger(delivered) || !Number.isSafeInteger(streamSeq)) return undefined;
  return { reply, stream: t[at]!, consumer: t[at + 1]!, delivered, streamSeq };
}

/** A status message (404 no messages, 408 timeout, 409 conflict, 503 no responders). */
function statusOf(msg: Msg): number {
  if (msg.reply !== '' && msg.reply !== undefined) return 0;
  const code = msg.headers?.code ?? 0;
  return msg.data.length === 0 ? code : 0;
}

/** Pulls up to `batch` messages that are deliverable now; never waits for more to arrive. */
export function pullNow(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  batch: number,
  timeoutMs: number,
): Promise<Msg[]> {
  return new Promise<Msg[]>((resolve, reject) => {
    const got: Msg[] = [];
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.unsubscribe();
      // Messages already pulled are leased to us: hand them out rather than lose the lease.
      if (err !== undefined && got.length === 0) reject(err);
      else resolve(got);
    };
    const inbox = `${PULL_ROOT}.${nuid.next()}`;
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err !== null) return finish(err);
        const status = statusOf(msg);
        if (status === 0) {
          got.push(msg);
          if (got.length >= batch) finish();
        } else if (status === 404 || status === 408) {
          finish();
        } else if (status === 503) {
          finish(new NotFoundError(`consumer ${stream}/${consumer} does not answer`));
        } else {
          finish(
            new UnavailableError(
              `pull from ${stream}/${consumer} ended with status ${status} ${msg.headers?.description ?? ''}`,
            ),
          );
        }
      },
    });
    const timer = setTimeout(
      () => finish(new UnavailableError(`pull from ${stream}/${consumer} timed out`)),
      timeoutMs,
    );
    try {
      nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
        JSON.stringify({ batch, no_wait: true }),
        { reply: inbox },
      );
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * "First message on `subject` (wildcards allowed) at or after `seq`": a stream message-get that
 * JetStream 2.9 answers, though nats.js types it only for direct gets.
 */
export function nextBySubject(subject: string, seq: number): MsgRequest {
  return { next_by_subj: subject, seq } as unknown as MsgRequest;
}
