// What a queued llmwire message carries in AMQP properties and headers besides its frame: the
// attempts used, when it expires, when it may first be delivered, and on a dead letter why it
// died. The frame itself is the codec's bytes, unchanged by every move between queues.
import type { Message, Options } from 'amqplib';
import type { Codec } from '../../codec/codec.js';
import {
  InvalidMessageError,
  PROTOCOL_VERSION,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import type { DeadLetter, DeadLetterReason } from '../transport.js';

export const H_ATTEMPTS = 'x-llmwire-attempts';
export const H_EXPIRES = 'x-llmwire-expires';
export const H_NOT_BEFORE = 'x-llmwire-not-before';
export const H_REASON = 'x-llmwire-reason';
export const H_ERROR = 'x-llmwire-error';
export const H_DEAD_AT = 'x-llmwire-dead-at';

export const DEFAULT_PRIORITY = 5;

type Headers = Record<string, unknown>;

export function toBuffer(frame: Uint8Array): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length);
}

function numberHeader(headers: Headers | undefined, name: string): number | undefined {
  const v = headers?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Attempts already used (failed deliveries) of a queued message. */
export function attemptsOf(msg: Message): number {
  return numberHeader(msg.properties.headers, H_ATTEMPTS) ?? 0;
}
export function expiresAtOf(msg: Message): number {
  return numberHeader(msg.properties.headers, H_EXPIRES) ?? Infinity;
}
/** The last error a retried message was nacked with, carried to its dead letter. */
export function lastErrorOf(msg: Message): WireErrorBody | undefined {
  return parseError(msg.properties.headers?.[H_ERROR]);
}
export function notBeforeOf(msg: Message): number {
  return numberHeader(msg.properties.headers, H_NOT_BEFORE) ?? 0;
}

/** AMQP message ids are short strings (255 bytes); queue-contract.ts checks the rest. */
export function checkQueued(env: Envelope): void {
  if (typeof env.id === 'string' && Buffer.byteLength(env.id) > 255) {
    throw new InvalidMessageError('queued message needs an id of 1-255 bytes');
  }
}

/**
 * Properties of a queued message. RabbitMQ treats a message without a priority as priority 0,
 * so the llmwire default (5) is always written out.
 */
export function queuedProperties(
  id: string,
  prio: number | undefined,
  extra: {
    attempts?: number;
    expiresAt?: number;
    notBefore?: number;
    lastError?: WireErrorBody | undefined;
  },
  now: number,
): Options.Publish {
  const headers: Headers = {};
  if (extra.attempts !== undefined && extra.attempts > 0) headers[H_ATTEMPTS] = extra.attempts;
  if (extra.lastError !== undefined) headers[H_ERROR] = JSON.stringify(extra.lastError);
  const props: Options.Publish = {
    persistent: true,
    messageId: id,
    priority: prio ?? DEFAULT_PRIORITY,
    headers,
  };
  const expiresAt = extra.expiresAt ?? Infinity;
  if (expiresAt !== Infinity) {
    headers[H_EXPIRES] = expiresAt;
    // The broker dead-letters it (reason 'expired') while it waits in a queue; the header lets
    // a consumer that already holds it do the same.
    props.expiration = String(Math.max(0, Math.ceil(expiresAt - now)));
  }
  if (extra.notBefore !== undefined && extra.notBefore > now)
    headers[H_NOT_BEFORE] = extra.notBefore;
  return props;
}

/** Properties of a message moved to the dead-letter queue by the adapter. */
export function deadProperties(
  msg: Message,
  reason: DeadLetterReason,
  attempts: number,
  error: WireErrorBody | undefined,
  now: number,
): Options.Publish {
  const headers: Headers = { [H_REASON]: reason, [H_ATTEMPTS]: attempts, [H_DEAD_AT]: now };
  if (error !== undefined) headers[H_ERROR] = JSON.stringify(error);
  const props: Options.Publish = { persistent: true, headers };
  if (typeof msg.properties.messageId === 'string') props.messageId = msg.properties.messageId;
  return props;
}

/** A message of the dead-letter queue as a DeadLetter. */
export function deadLetterOf(msg: Message, codec: Codec, queue: string): DeadLetter {
  const headers = msg.properties.headers;
  const reasonHeader = headers?.[H_REASON];
  // The adapter writes the reason on every letter it moves; anything else got here through the
  // queues' dead-letter exchange, and the only cause of that these queues have is expiry.
  const reason: DeadLetterReason =
    reasonHeader === 'max_attempts' || reasonHeader === 'rejected' ? reasonHeader : 'expired';
  const letter: DeadLetter = {
    envelope: envelopeOrStub(msg, codec, queue),
    reason,
    attempts: attemptsOf(msg),
    deadAt: numberHeader(headers, H_DEAD_AT) ?? brokerDeathTime(headers) ?? Date.now(),
  };
  const error = parseError(headers?.[H_ERROR]);
  return error === undefined ? letter : { ...letter, error };
}

/** Decodes a queued frame; one this codec cannot read is shown by what AMQP knows of it. */
export function envelopeOrStub(msg: Message, codec: Codec, queue: string): Envelope {
  try {
    return codec.decode(msg.content);
  } catch {
    return {
      v: PROTOCOL_VERSION,
      id: typeof msg.properties.messageId === 'string' ? msg.properties.messageId : '',
      kind: 'unknown',
      subject: queue,
      ts: Date.now(),
    };
  }
}

function brokerDeathTime(headers: Headers | undefined): number | undefined {
  const deaths = headers?.['x-death'];
  if (!Array.isArray(deaths) || deaths.length === 0) return undefined;
  const time = (deaths[0] as { time?: unknown }).time;
  // AMQP timestamps are whole seconds; amqplib decodes them as numbers.
  if (typeof time === 'number') return time * 1000;
  if (
    typeof time === 'object' &&
    time !== null &&
    typeof (time as { value?: unknown }).value === 'number'
  ) {
    return (time as { value: number }).value * 1000;
  }
  return undefined;
}

function parseError(value: unknown): WireErrorBody | undefined {
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  if (typeof text !== 'string') return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && 'code' in parsed) {
      return parsed as WireErrorBody;
    }
  } catch {
    // a malformed header is dropped, the letter is still listed
  }
  return undefined;
}
