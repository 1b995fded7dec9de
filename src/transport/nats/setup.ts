// Creates (or brings up to date) the JetStream objects behind one durable queue: a work-queue
// stream, a dead-letter stream, and one pull consumer per priority class plus one for delayed
// messages. Idempotent, so every process opening the queue may run it.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ConfigError } from '../../protocol/index.js';
import type { QueueStats, ResolvedQueueOptions } from '../transport.js';
import { CLASSES, type QueueNames } from './names.js';

export interface SetupOptions {
  storage: 'file' | 'memory';
  replicas: number;
}

/** Lease of the consumer that only moves due delayed messages: moving takes one round trip. */
const DELAYED_ACK_WAIT_MS = 30_000;

/** JetStream API error codes this module tells apart (server/errors.json). */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

export async function setupQueue(
  jsm: JetStreamManager,
  names: QueueNames,
  options: ResolvedQueueOptions,
  setup: SetupOptions,
): Promise<void> {
  const storage = setup.storage === 'memory' ? StorageType.Memory : StorageType.File;
  // A message is removed once acked (work-queue retention). Discard-new makes a full stream
  // refuse the enqueue, which is what maxDepth asks for.
  await ensureStream(jsm, {
    name: names.stream,
    subjects: [`${names.root}.>`],
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: setup.replicas,
    discard: DiscardPolicy.New,
    max_msgs: Number.isFinite(options.maxDepth) ? options.maxDepth : -1,
    // 0 would mean the server's default (2 min); with no dedup no message id is sent anyway.
    // The server keeps no window under 100 ms, and the queue contract allows none.
    duplicate_window: nanos(Math.max(options.dedupWindowMs, 100)),
  });
  await ensureStream(jsm, {
    name: names.dlqStream,
    subjects: [`${names.dlqRoot}.>`],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: setup.replicas,
  });
  const consumer = (name: string, filter: string, ackWaitMs: number): Partial<ConsumerConfig> => ({
    durable_name: name,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    // Attempts are counted here, not by the server, so a lease that runs out on the last
    // attempt still reaches the dead letters (the server would just stop delivering it).
    max_deliver: -1,
    max_ack_pending: -1,
  });
  await Promise.all([
    ...CLASSES.map((cls) =>
      ensureConsumer(jsm, names.stream, consumer(cls, `${names.root}.${cls}.>`, options.leaseMs)),
    ),
    ensureConsumer(jsm, names.stream, consumer('d', names.delayed, DELAYED_ACK_WAIT_MS)),
  ]);
}

async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  const name = config.name;
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw err;
    await jsm.streams.add(config);
    return;
  }
  if (current.storage !== config.storage || current.retention !== config.retention) {
    throw new ConfigError(
      `stream ${name} exists with ${current.storage} storage and ${current.retention} retention`,
    );
  }
  const stale =
    current.max_msgs !== (config.max_msgs ?? current.max_msgs) ||
    current.duplicate_window !== (config.duplicate_window ?? current.duplicate_window) ||
    current.num_replicas !== config.num_replicas;
  if (stale) {
    const { name: _n, storage: _s, retention: _r, ...update } = config;
    await jsm.streams.update(name, update);
  }
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig>,
): Promise<void> {
  const name = config.durable_name!;
  try {
    const current = (await jsm.consumers.info(stream, name)).config;
    if (current.ack_wait !== config.ack_wait) {
      await jsm.consumers.update(stream, name, { ack_wait: config.ack_wait });
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === CONSUMER_NOT_FOUND)) throw err;
    await jsm.consumers.add(stream, config);
  }
}

/** Ready, leased and delayed counts, from the consumers' own bookkeeping. */
export async function consumerCounts(
  jsm: JetStreamManager,
  names: QueueNames,
): Promise<Omit<QueueStats, 'dead'>> {
  const [h, n, l, d] = await Promise.all(
    [...CLASSES, 'd'].map((c) => jsm.consumers.info(names.stream, c)),
  );
  const live = [h!, n!, l!];
  return {
    ready: live.reduce((s, c) => s + c.num_pending, 0),
    // JetStream counts a nak'ed message waiting out its delay, and a parked follower, as
    // ack-pending: they show here as leased.
    leased: live.reduce((s, c) => s + c.num_ack_pending, 0),
    delayed: d!.num_pending + d!.num_ack_pending,
  };
}
