// What the parts of the NATS adapter share: the connection, the JetStream clients, the codec and
// the adapter's settings. Built once per transport.
import {
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
} from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { PermissionViolationError, TimeoutError } from '@nats-io/transport-node';
import type { Codec } from '../../codec/codec.js';
import {
  ForbiddenError,
  OverloadedError,
  PayloadTooLargeError,
  UnavailableError,
  WireError,
} from '../../protocol/index.js';
import type { SetupOptions } from './setup.js';

export interface NatsContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly codec: Codec;
  /** Prefix of stream names and of queue subjects. */
  readonly prefix: string;
  readonly setup: SetupOptions;
  /** How long a JetStream API call, PubAck or ack confirmation may take. */
  readonly requestTimeoutMs: number;
  /** Longest a waiting receive goes without looking at the consumers again. */
  readonly pollMs: number;
  /** Headers and framing may take this much of the server's max_payload. */
  readonly headroomBytes: number;
  readonly onError: (err: unknown) => void;
  isClosed(): boolean;
}

/** The largest payload one NATS message may carry on the current server, after headers. */
export function payloadLimit(ctx: NatsContext): number {
  return Math.max(1024, ctx.nc.info?.max_payload ?? 1024 * 1024) - ctx.headroomBytes;
}

/** Sends one JetStream ack-protocol verb (+ACK, -NAK, +WPI, +TERM) and waits for the server. */
export async function ackVerb(ctx: NatsContext, reply: string, verb: string): Promise<void> {
  try {
    await ctx.nc.request(reply, verb, { timeout: ctx.requestTimeoutMs });
  } catch (err) {
    throw brokerError(err, `ack '${verb.split(' ')[0]!}'`);
  }
}

/** Broker failures become `unavailable` (retryable), refused grants `forbidden`; typed errors pass through. */
export function brokerError(err: unknown, what: string): Error {
  if (err instanceof WireError) return err;
  // A subject the user's grants refuse: trying again cannot help (as for record stores).
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError) {
    return new ForbiddenError(`NATS user may not do ${what}`, { cause: err });
  }
  const reason = err instanceof TimeoutError ? 'timed out' : 'failed';
  return new UnavailableError(`NATS ${what} ${reason}`, { cause: err });
}

/** JetStream API error codes of a refused publish (server/errors.json). */
const STORE_FAILED = 10077; // a limit is reached: max_msgs with discard-new is maxDepth
const MESSAGE_TOO_LARGE = 10054;

/** Publishes to a stream and waits for its PubAck: the message is stored once this resolves. */
export async function publishDurable(
  ctx: NatsContext,
  subject: string,
  data: Uint8Array,
  hdrs: MsgHdrs,
  msgID: string | undefined,
): Promise<PubAck> {
  try {
    return await ctx.js.publish(subject, data, {
      headers: hdrs,
      timeout: ctx.requestTimeoutMs,
      ...(msgID === undefined ? {} : { msgID }),
    });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STORE_FAILED) {
      throw new OverloadedError(`queue stream refused the message: it is full`, { cause: err });
    }
    if (err instanceof JetStreamApiError && err.code === MESSAGE_TOO_LARGE) {
      throw new PayloadTooLargeError(
        "message is larger than the queue stream accepts; put large payloads in bus.blobs and enqueue the blob's name",
        {
          cause: err,
        },
      );
    }
    throw brokerError(err, `publish to ${subject}`);
  }
}
