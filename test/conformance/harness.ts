// The conformance harness: one set of behaviour tests, parameterised by a transport factory,
// run unchanged against every transport.
import { randomBytes } from 'node:crypto';
import { createBus, type Bus } from '../../src/bus/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { waitUntil } from '../wait.js';

export interface TransportFactory {
  /** Label used in test names. */
  name: string;
  /** A fresh transport for one test (or a shared one; tests use unique subjects and queues). */
  create(): Promise<Transport>;
  /** Timing slack for broker round trips, in ms. Default 0. */
  slackMs?: number;
  /**
   * Two fresh transports reaching the same broker (or file), closed by the caller. Absent where
   * transports share nothing (memory).
   */
  pair?: () => Promise<[Transport, Transport]>;
  /** The transport has no record stores (RabbitMQ, a hub client): `records` must be absent. */
  noRecords?: boolean;
  /** The transport has no blob store (RabbitMQ, a hub client): `blobs` must be absent. */
  noBlobs?: boolean;
  /**
   * The blob store is a blob service reached over the bus (bus/blob-service.ts): it refuses a
   * part whose bytes do not match its sum and a manifest that is not one, so the tests that
   * write such things straight into the store to forge a corruption do not apply.
   */
  blobService?: boolean;
}

/** Unique subject/queue-safe name for one test. */
export function unique(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Two buses on one transport (a requester and a responder), disposed together. */
export async function buses(factory: TransportFactory): Promise<{
  a: Bus;
  b: Bus;
  transport: Transport;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const transport = await factory.create();
  const a = createBus({ transport, source: 'a', onError: () => undefined });
  const b = createBus({ transport, source: 'b', onError: () => undefined });
  await Promise.all([a.ready, b.ready]);
  return {
    a,
    b,
    transport,
    async [Symbol.asyncDispose]() {
      await a.close();
      await b.close();
      await transport.close();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  return waitUntil(check, 'the condition', timeoutMs, 5);
}
