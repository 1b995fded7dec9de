// Scatter-gather on a durable queue: a job's items go out as shard messages on the queue
// `<prefix>-scatter-<name>`, workers run a handler per shard and write each outcome to the
// record store of the same name, keyed by job and shard; any process reads the outcomes back in
// shard order (scatter-job.ts). docs/dataplane.md gives the semantics.
import { Type } from '@sinclair/typebox';
import {
  ConfigError,
  createId,
  InvalidMessageError,
  optionsCheck,
  PayloadTooLargeError,
  toWireError,
  WireError,
  type WireErrorBody,
} from '../protocol/index.js';
import type { RecordStore } from '../transport/records.js';
import type { QueueOptions } from '../transport/transport.js';
import type { Bus } from './api.js';
import {
  checkJobId,
  checkPartName,
  checkPrefix,
  DEFAULT_PREFIX,
  getJson,
  metaKey,
  putJson,
  shardKey,
  stopKey,
  type JobMeta,
  type ShardFailureMode,
  type ShardRecord,
  type StopRecord,
} from './job-records.js';
import type { BusQueue, Consumer } from './queue.js';
import { ScatterJob } from './scatter-job.js';

export interface ShardContext {
  readonly job: string;
  readonly shard: number;
  /** 1 on the first delivery; a delivery lost with a crashed process counts too. */
  readonly attempt: number;
  /** Fires when the worker stops or loses the shard's lease. */
  readonly signal: AbortSignal;
}

/** Runs one shard; its value (JSON) is the shard's result. */
export type ShardHandler<I, R> = (item: I, ctx: ShardContext) => R | Promise<R>;

export interface ScatterOptions<I, R> {
  /** Names the queue and record store: `<prefix>-scatter-<name>`. */
  name: string;
  /** Runs each shard; needed only by processes that call `work`. */
  handler?: ShardHandler<I, R>;
  /** Default `pipe`. */
  prefix?: string;
  /** Options of the shard queue (lease, backoff, attempts). Default maxAttempts 25. */
  queue?: QueueOptions;
  /** Where job records live. Default: the transport's store `<prefix>-scatter-<name>`. */
  records?: RecordStore;
  /** Job records are forgotten this long after their last write (ms). Default: kept. */
  recordTtlMs?: number;
}

export interface StartOptions {
  /** The job's id; starting an id again resumes that job instead of making a second. */
  id?: string;
  /** What a failed shard does (see ShardFailureMode). Default `fail`. */
  failure?: ShardFailureMode;
  /** Handler failures retried per shard. Default 3 for `retry`, 0 otherwise. */
  retries?: number;
  /** Priority of the shard messages, 0-9 (9 first). Default 5; batch work would use 2. */
  priority?: number;
}

export interface WorkOptions {
  /** Shards run at once in this process. Default 1. */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface Scatter<I, R> {
  readonly name: string;
  /** The shard queue. */
  readonly queue: BusQueue<ShardBody>;
  readonly records: RecordStore;
  /** Queues one shard per item; resolves once every shard is durable. */
  start(items: Iterable<I> | AsyncIterable<I>, options?: StartOptions): Promise<ScatterJob<R>>;
  /**
   * The job of this id, from any process (nothing is read until asked). The same id gives the
   * same handle while it is among the 256 used last.
   */
  job(id: string): ScatterJob<R>;
  /** Runs the handler on shards from the queue until stopped. */
  work(options?: WorkOptions): Consumer;
}

/** The body of a shard message (docs/protocol.md, "Scatter jobs"). */
export interface ShardBody {
  readonly job: string;
  readonly shard: number;
  readonly mode: ShardFailureMode;
  readonly retries: number;
  readonly item: unknown;
}

const checkOptions = optionsCheck(
  'scatter options',
  Type.Object(
    {
      name: Type.String(),
      handler: Type.Optional(Type.Function([Type.Any(), Type.Any()], Type.Any())),
      prefix: Type.Optional(Type.String()),
      queue: Type.Optional(Type.Object({})),
      records: Type.Optional(Type.Object({})),
      recordTtlMs: Type.Optional(Type.Integer({ minimum: 1000 })),
    },
    { additionalProperties: false },
  ),
);

const Mode = Type.Union([Type.Literal('fail'), Type.Literal('retry'), Type.Literal('partial')]);

const checkStart = optionsCheck(
  'scatter start options',
  Type.Object(
    {
      id: Type.Optional(Type.String()),
      failure: Type.Optional(Mode),
      retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
      priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 9 })),
    },
    { additionalProperties: false },
  ),
);

const ShardBodySchema = Type.Object({
  job: Type.String(),
  shard: Type.Integer({ minimum: 0 }),
  mode: Mode,
  retries: Type.Integer({ minimum: 0 }),
  item: Type.Unknown(),
});
const checkShardBody = optionsCheck('shard message', ShardBodySchema);

/** Shard messages queued at once while starting a job. */
const WINDOW = 64;
const DEFAULT_MAX_ATTEMPTS = 25;
/** Job handles a scatter keeps (least recently used dropped first). */
const MAX_HANDLES = 256;
/** How long a worker takes a job it saw running to be still running (ms). */
const STOP_RECHECK_MS = 100;

/** The records store a scatter or pipeline keeps, from the options or the transport. */
export function recordsFor(
  bus: Bus,
  name: string,
  given: RecordStore | undefined,
  ttlMs: number | undefined,
): RecordStore {
  if (given !== undefined) return given;
  const open = bus.transport.records?.bind(bus.transport);
  if (open === undefined) {
    throw new ConfigError(
      `the ${bus.transport.name} transport has no record store for '${name}'; pass \`records\` ` +
        '(a store of a sqlite, nats or redis transport reaching the same data)',
    );
  }
  return open(name, ttlMs === undefined ? {} : { ttlMs });
}

export function createScatter<I = unknown, R = unknown>(
  bus: Bus,
  options: ScatterOptions<I, R>,
): Scatter<I, R> {
  checkOptions(options);
  checkPartName('scatter name', options.name);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  const base = `${prefix}-scatter-${options.name}`;
  const queueOptions: QueueOptions = { maxAttempts: DEFAULT_MAX_ATTEMPTS, ...options.queue };
  const maxAttempts = queueOptions.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const queue = bus.queue<ShardBody>(base, queueOptions);
  const records = recordsFor(bus, base, options.records, options.recordTtlMs);
  // One handle per job id: a handle remembers the shards it saw finish, so a process asking
  // for a job's progress again reads only the shards still pending.
  const handles = new Map<string, ScatterJob<R>>();
  const handleOf = (id: string): ScatterJob<R> => {
    let handle = handles.get(id);
    if (handle === undefined) {
      handle = new ScatterJob<R>(id, records);
      if (handles.size >= MAX_HANDLES) handles.delete(handles.keys().next().value!);
    }
    handles.delete(id);
    handles.set(id, handle); // most recently used last
    return handle;
  };

  const start = async (
    items: Iterable<I> | AsyncIterable<I>,
    startOptions: StartOptions = {},
  ): Promise<ScatterJob<R>> => {
    checkStart(startOptions);
    const id = startOptions.id ?? createId();
    checkJobId(id);
    const mode = startOptions.failure ?? 'fail';
    const retries = startOptions.retries ?? (mode === 'retry' ? 3 : 0);
    if (retries >= maxAttempts) {
      throw new ConfigError(
        `retries ${retries} must be less than the shard queue's maxAttempts (${maxAttempts})`,
      );
    }
    const job = handleOf(id);
    const existing = await getJson<JobMeta>(records, metaKey(id));
    if (existing?.total !== undefined) return job;
    // A start resumed after a crash keeps the job's first rules.
    const meta: JobMeta = existing ?? { v: 1, id, mode, retries, createdAt: Date.now() };
    if (existing === undefined) await putJson(records, metaKey(id), meta);
    const prio = startOptions.priority ?? 5;
    // The message id is the job and shard: while the first copy is held, a second is a
    // duplicate. Once it is gone, its outcome is written (before the ack), so a resumed start
    // queues no shard that has one, and a first delivery need not look for one.
    const enqueueShard = async (body: ShardBody, prio: number, resumed: boolean) => {
      if (resumed && (await records.get(shardKey(body.job, body.shard))) !== undefined) return;
      await queue.enqueue(body, { id: `${body.job}.${body.shard}`, prio });
    };
    let shard = 0;
    let window: Promise<unknown>[] = [];
    for await (const item of items) {
      const body: ShardBody = { job: id, shard, mode: meta.mode, retries: meta.retries, item };
      window.push(enqueueShard(body, prio, existing !== undefined));
      shard++;
      if (window.length >= WINDOW) {
        await Promise.all(window);
        window = [];
        if ((await records.get(stopKey(id))) !== undefined) return job;
      }
    }
    await Promise.all(window);
    await putJson(records, metaKey(id), { ...meta, total: shard } satisfies JobMeta);
    return job;
  };

  const stops = new StopCache(records);
  const work = (workOptions: WorkOptions = {}): Consumer => {
    const handler = options.handler;
    if (handler === undefined) {
      throw new ConfigError(`scatter '${options.name}' was created without a handler to work with`);
    }
    return queue.consume(
      (job) => runShard(records, stops, handler, job.body, job.attempt, job.signal, maxAttempts),
      {
        concurrency: workOptions.concurrency ?? 1,
        ...(workOptions.signal === undefined ? {} : { signal: workOptions.signal }),
      },
    );
  };

  return {
    name: options.name,
    queue,
    records,
    start,
    job: (id: string) => {
      checkJobId(id);
      return handleOf(id);
    },
    work,
  };
}

/**
 * One shard: skipped when its job stopped or its outcome is already written; otherwise the
 * handler runs and its outcome is written under the job and shard's key. A failure is thrown
 * back to the queue (redelivered with backoff) while retries remain; after that it is written as
 * the shard's outcome, and in modes `fail` and `retry` it stops the job.
 */
async function runShard<I, R>(
  records: RecordStore,
  stops: StopCache,
  handler: ShardHandler<I, R>,
  raw: unknown,
  attempt: number,
  signal: AbortSignal,
  maxAttempts: number,
): Promise<void> {
  let body: ShardBody;
  try {
    body = checkShardBody(raw);
  } catch (cause) {
    throw new InvalidMessageError('not a shard message', { cause });
  }
  const { job, shard, mode } = body;
  if (await stops.stopped(job)) return;
  // A redelivery may follow a run that wrote the outcome but died before its ack.
  const earlier =
    attempt > 1 ? await getJson<ShardRecord>(records, shardKey(job, shard)) : undefined;
  if (earlier !== undefined) {
    // Written by a run that died before it could stop the job: stop it now.
    if (!earlier.ok && mode !== 'partial') await stopFailed(records, stops, job, shard);
    return;
  }
  let value: R;
  try {
    value = await handler(body.item as I, { job, shard, attempt, signal });
  } catch (err) {
    const wire = toWireError(err);
    const retry = wire.retryable && attempt <= body.retries && attempt < maxAttempts;
    if (retry) throw err instanceof WireError ? err : wire;
    await fail(records, stops, body, wire.toWire(), attempt);
    return;
  }
  try {
    await putJson(records, shardKey(job, shard), { v: 1, ok: true, value, attempt });
  } catch (err) {
    if (!(err instanceof PayloadTooLargeError)) throw err;
    await fail(records, stops, body, err.toWire(), attempt);
  }
}

async function fail(
  records: RecordStore,
  stops: StopCache,
  body: ShardBody,
  error: WireErrorBody,
  attempt: number,
): Promise<void> {
  const record: ShardRecord = { v: 1, ok: false, error, attempt };
  await putJson(records, shardKey(body.job, body.shard), record);
  if (body.mode !== 'partial') await stopFailed(records, stops, body.job, body.shard);
}

async function stopFailed(
  records: RecordStore,
  stops: StopCache,
  job: string,
  shard: number,
): Promise<void> {
  stops.stop(job);
  const stop: StopRecord = { v: 1, reason: 'failed', at: Date.now(), shard };
  await putJson(records, stopKey(job), stop);
}

/**
 * Whether a job has stopped, as the workers of one process ask it before each shard. A stop
 * is final, so a job seen stopped is remembered; one seen running is asked again after
 * STOP_RECHECK_MS, so a cancel reaches every worker within that time and the shards of a
 * running job cost one read of the stop record per job per interval, not one per shard.
 */
class StopCache {
  private readonly seen = new Map<string, { stopped: boolean; at: number }>();
  constructor(private readonly records: RecordStore) {}

  /** This process stopped the job: its workers skip the rest at once. */
  stop(job: string): void {
    this.seen.set(job, { stopped: true, at: Date.now() });
  }

  async stopped(job: string): Promise<boolean> {
    const now = Date.now();
    const known = this.seen.get(job);
    if (known !== undefined && (known.stopped || now - known.at < STOP_RECHECK_MS)) {
      return known.stopped;
    }
    const stopped = (await this.records.get(stopKey(job))) !== undefined;
    this.seen.delete(job);
    this.seen.set(job, { stopped, at: now });
    if (this.seen.size > MAX_HANDLES) this.seen.delete(this.seen.keys().next().value!);
    return stopped;
  }
}
