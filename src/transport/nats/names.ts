// Names the NATS adapter gives to things on the broker: streams, subjects and headers of durable
// queues, the KV buckets of record stores, and the private subjects of one connection
// (no-responders, chunk offers, pulls).
import { createHash } from 'node:crypto';
import type { Msg } from '@nats-io/transport-node';

/** Header names. The envelope travels whole in the payload; these repeat what the broker needs. */
export const HEADER = {
  id: 'Llmwire-Id',
  /** ms epoch after which a queued message is dead-lettered as `expired`. */
  expires: 'Llmwire-Expires',
  /** ms epoch before which a delayed message is not moved to its class subject. */
  notBefore: 'Llmwire-Not-Before',
  /** The token of the message's ordering key (see keyToken). */
  key: 'Llmwire-Key',
  /** Priority class of a delayed message, for when it is moved. */
  class: 'Llmwire-Class',
  deadReason: 'Llmwire-Dead-Reason',
  deadAttempts: 'Llmwire-Dead-Attempts',
  deadError: 'Llmwire-Dead-Error',
  deadAt: 'Llmwire-Dead-At',
} as const;

/** A numeric header (ms epochs), or undefined when absent or not a number. */
export function headerNumber(msg: Msg, name: string): number | undefined {
  const text = msg.headers?.get(name);
  if (!text) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Priority classes, highest first. Envelope priorities 0..9 fold into three classes (7-9 high,
 * 4-6 normal, 0-3 low) so an empty poll costs three pulls, not ten; FIFO within a class.
 */
export const CLASSES = ['h', 'n', 'l'] as const;
export type PriorityClass = (typeof CLASSES)[number];

export function classOf(prio: number | undefined): PriorityClass {
  const p = prio ?? 5;
  return p >= 7 ? 'h' : p >= 4 ? 'n' : 'l';
}

export function isPriorityClass(value: string | undefined): value is PriorityClass {
  return value === 'h' || value === 'n' || value === 'l';
}

const TOKEN_SAFE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A subject token for an ordering key: a SHA-256 prefix, so any key string fits. Two keys that
 * collide only share one ordering lane (slower, never out of order).
 */
export function keyToken(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 22);
}

/** A subject token naming a message id: the id itself when it is token-safe, else its hash. */
export function idToken(id: string): string {
  return TOKEN_SAFE.test(id) ? id : `h${createHash('sha256').update(id).digest('base64url')}`;
}

export interface QueueNames {
  /** Work-queue stream holding live messages. */
  readonly stream: string;
  /** Limits stream holding dead letters. */
  readonly dlqStream: string;
  /** Root of the work stream's subjects. */
  readonly root: string;
  /** Subject of delayed messages (not yet due). */
  readonly delayed: string;
  /** Root of dead-letter subjects: `<dlqRoot>.<id token>`. */
  readonly dlqRoot: string;
  /** Core subject enqueuers touch so that waiting receivers look at once. */
  readonly wake: string;
  /** KV bucket of parked messages given back (park-ledger.ts). */
  readonly parkBucket: string;
}

export function queueNames(prefix: string, name: string): QueueNames {
  const root = `${prefix}.q.${name}`;
  return {
    stream: `${prefix}_Q_${name}`,
    dlqStream: `${prefix}_DLQ_${name}`,
    root,
    delayed: `${root}.d`,
    dlqRoot: `${prefix}.dlq.${name}`,
    wake: `${prefix}.wake.${name}`,
    parkBucket: `${prefix}_PARKED_${name}`,
  };
}

/** Subject of a ready message: by class, and by key token when it has a key. */
export function readySubject(names: QueueNames, cls: PriorityClass, token?: string): string {
  return token === undefined ? `${names.root}.${cls}.u` : `${names.root}.${cls}.k.${token}`;
}

/** Every ready message of one key, whatever its class (the per-key ordering lane). */
export function keyLane(names: QueueNames, token: string): string {
  return `${names.root}.*.k.${token}`;
}

/** KV bucket of a record store (records.ts): stream `KV_<bucket>`, subjects `$KV.<bucket>.<key>`. */
export function recordBucket(prefix: string, store: string): string {
  return `${prefix}_REC_${store}`;
}

/**
 * The subjects a NATS user must be allowed to publish on to open, read and write record store
 * `store` (docs/protocol.md, "Record stores"); the JetStream replies come to its reply inbox.
 * MSG.GET serves buckets made without direct get; UPDATE, a store opened with another ttlMs.
 */
export function recordStoreSubjects(prefix: string, store: string): string[] {
  return kvBucketSubjects(recordBucket(prefix, store));
}

/** KV bucket of a limit store (limits.ts): stream `KV_<bucket>`, subjects `$KV.<bucket>.<key>`. */
export function limitBucket(prefix: string, store: string): string {
  return `${prefix}_LIM_${store}`;
}

/** The subjects a NATS user must be allowed to publish on to use limit store `store`. */
export function limitStoreSubjects(prefix: string, store: string): string[] {
  return kvBucketSubjects(limitBucket(prefix, store));
}

/** What opening, reading and writing a KV bucket publishes on (see recordStoreSubjects). */
function kvBucketSubjects(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [
    `$KV.${bucket}.>`,
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.UPDATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    // A KV get reads by the stream's direct get API when the bucket allows it.
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
  ];
}

/** Object Store bucket of the blob store (blobs.ts): stream `OBJ_<bucket>`, subjects `$O.<bucket>.>`. */
export function blobBucket(prefix: string): string {
  return `${prefix}_BLOBS`;
}

/**
 * The subjects a NATS user must be allowed to publish on to read the blob store
 * (docs/protocol.md, "Blob stores"): stream info, an object's metadata (MSG.GET), and the
 * ordered consumers that read an object's chunks or list the bucket. Their messages and the
 * JetStream replies come to the user's inbox; nothing here writes to the bucket.
 */
export function blobReadSubjects(prefix: string): string[] {
  const stream = `OBJ_${blobBucket(prefix)}`;
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
  ];
}

/** What a writer needs besides reading: the bucket's subjects, creating it, purging chunks. */
export function blobWriteSubjects(prefix: string): string[] {
  const bucket = blobBucket(prefix);
  const stream = `OBJ_${bucket}`;
  return [`$O.${bucket}.>`, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.PURGE.${stream}`];
}

/**
 * The subjects a NATS user must be allowed to publish on to enqueue to, consume from and
 * dead-letter on durable queue `name` (queue.ts): its work and dead-letter streams, their
 * consumers and acks, its wake subject, and the KV bucket of parked messages.
 */
export function queueSubjects(prefix: string, name: string): string[] {
  const n = queueNames(prefix, name);
  const streams = [n.stream, n.dlqStream, `KV_${n.parkBucket}`];
  return [
    `${n.root}.>`,
    `${n.dlqRoot}.>`,
    n.wake,
    `$KV.${n.parkBucket}.>`,
    ...streams.flatMap((s) => [
      `$JS.API.STREAM.*.${s}`,
      `$JS.API.STREAM.MSG.*.${s}`,
      `$JS.API.CONSUMER.*.${s}`,
      `$JS.API.CONSUMER.*.${s}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${s}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.>`,
      `$JS.ACK.${s}.>`,
    ]),
  ];
}

/** Prefix of the subjects private to one connection (`_LLMW.<nuid>`). */
/** The stream prefix when none is given (`streamPrefix`). */
export const DEFAULT_STREAM_PREFIX = 'LLMWIRE';

export const CONTROL_ROOT = '_LLMW';
/** Prefix of pull-request inboxes, outside CONTROL_ROOT so pulled messages reach one handler. */
export const PULL_ROOT = '_LLMW_PULL';
