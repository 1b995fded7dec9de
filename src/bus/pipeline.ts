// Pipelines: stages on durable queues, each a handler whose output is the next stage's input.
// Stage k of pipeline P reads the queue `<prefix>-stage-<P>-<k's name>`; the last stage's output
// (or the failure that ended a run) is written to the record store `<prefix>-pipeline-<P>` under
// the run's id. docs/dataplane.md gives the semantics.
import { Type } from '@sinclair/typebox';
import {
  CancelledError,
  ConfigError,
  createId,
  InvalidMessageError,
  optionsCheck,
  toWireError,
  type WireErrorBody,
} from '../protocol/index.js';
import type { RecordStore } from '../transport/records.js';
import type { BackoffOptions } from '../transport/transport.js';
import type { Bus } from './api.js';
import {
  checkJobId,
  checkPartName,
  checkPrefix,
  DEFAULT_PREFIX,
  getJson,
  putJson,
} from './job-records.js';
import type { BusQueue, Consumer } from './queue.js';
import { recordsFor } from './scatter.js';

export interface StageContext {
  /** The run (one input through the pipeline). */
  readonly run: string;
  readonly stage: string;
  /** 1 on the first delivery of this stage's message. */
  readonly attempt: number;
  /** Fires when the stage stops or loses the message's lease. */
  readonly signal: AbortSignal;
}

export interface StageSpec {
  /** Names the stage's queue. */
  name: string;
  /** Its return value (JSON) is the next stage's input, or the run's output after the last. */
  handler: (input: never, ctx: StageContext) => unknown;
  /** Messages handled at once per process. Default 1. */
  concurrency?: number;
  /** Failures retried before the message goes to the stage's dead letters. Default 3. */
  retries?: number;
  backoff?: Partial<BackoffOptions>;
  /** Lease of a message while its handler runs (renewed while it runs). Default 30 s. */
  leaseMs?: number;
}

export interface PipelineOptions {
  name: string;
  stages: StageSpec[];
  /** Default `pipe`. */
  prefix?: string;
  /** Where run outputs live. Default: the transport's store `<prefix>-pipeline-<name>`. */
  records?: RecordStore;
  recordTtlMs?: number;
}

/** What a run ended with: `run.<id>` in the pipeline's record store. */
export type PipelineOutput<O = unknown> =
  | { readonly v: 1; readonly status: 'done'; readonly value: O }
  | {
      readonly v: 1;
      readonly status: 'failed';
      readonly stage: string;
      readonly error: WireErrorBody;
    };

/** The body of a stage message (docs/protocol.md, "Pipelines"). */
export interface StageBody {
  readonly run: string;
  readonly input: unknown;
}

export interface Pipeline<O = unknown> {
  readonly name: string;
  readonly stages: readonly string[];
  readonly records: RecordStore;
  /** Queues an input at the first stage; resolves with the run's id once it is durable. */
  submit(input: unknown, options?: { id?: string; priority?: number }): Promise<string>;
  /** Runs the handlers of these stages (default all) in this process until stopped. */
  run(options?: { stages?: string[]; signal?: AbortSignal }): Consumer;
  /** The run's output, or undefined while it runs. */
  output(run: string): Promise<PipelineOutput<O> | undefined>;
  /** Resolves with the run's output once it has one. */
  wait(
    run: string,
    options?: { signal?: AbortSignal; pollMs?: number },
  ): Promise<PipelineOutput<O>>;
  /** A stage's queue (its stats and dead letters). */
  queue(stage: string): BusQueue<StageBody>;
}

const checkOptions = optionsCheck(
  'pipeline options',
  Type.Object(
    {
      name: Type.String(),
      stages: Type.Array(
        Type.Object(
          {
            name: Type.String(),
            handler: Type.Function([Type.Any(), Type.Any()], Type.Any()),
            concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
            retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
            backoff: Type.Optional(Type.Object({})),
            leaseMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          },
          { additionalProperties: false },
        ),
        { minItems: 1 },
      ),
      prefix: Type.Optional(Type.String()),
      records: Type.Optional(Type.Object({})),
      recordTtlMs: Type.Optional(Type.Integer({ minimum: 1000 })),
    },
    { additionalProperties: false },
  ),
);

const checkBody = optionsCheck(
  'stage message',
  Type.Object({ run: Type.String(), input: Type.Unknown() }),
);

const runKey = (run: string) => `run.${run}`;

export function createPipeline<O = unknown>(bus: Bus, options: PipelineOptions): Pipeline<O> {
  checkOptions(options);
  checkPartName('pipeline name', options.name);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  const names = new Set<string>();
  for (const s of options.stages) {
    checkPartName('stage name', s.name);
    if (names.has(s.name)) throw new ConfigError(`two stages are named '${s.name}'`);
    names.add(s.name);
  }
  const records = recordsFor(
    bus,
    `${prefix}-pipeline-${options.name}`,
    options.records,
    options.recordTtlMs,
  );
  const queues = options.stages.map((s) =>
    bus.queue<StageBody>(`${prefix}-stage-${options.name}-${s.name}`, {
      maxAttempts: (s.retries ?? 3) + 1,
      ...(s.backoff === undefined ? {} : { backoff: s.backoff }),
      ...(s.leaseMs === undefined ? {} : { leaseMs: s.leaseMs }),
    }),
  );
  const indexOf = (stage: string) => {
    const i = options.stages.findIndex((s) => s.name === stage);
    if (i < 0) throw new ConfigError(`pipeline '${options.name}' has no stage '${stage}'`);
    return i;
  };

  const consumeStage = (i: number, signal: AbortSignal | undefined): Consumer => {
    const spec = options.stages[i]!;
    const maxAttempts = (spec.retries ?? 3) + 1;
    const next = queues[i + 1];
    return queues[i]!.consume(
      async (job) => {
        let body: StageBody;
        try {
          body = checkBody(job.body);
          checkJobId(body.run);
        } catch (cause) {
          throw new InvalidMessageError(`not a message of pipeline '${options.name}'`, { cause });
        }
        const ctx: StageContext = {
          run: body.run,
          stage: spec.name,
          attempt: job.attempt,
          signal: job.signal,
        };
        let output: unknown;
        try {
          output = await spec.handler(body.input as never, ctx);
        } catch (err) {
          const wire = toWireError(err);
          if (!wire.retryable || job.attempt >= maxAttempts) {
            const failed: PipelineOutput = {
              v: 1,
              status: 'failed',
              stage: spec.name,
              error: wire.toWire(),
            };
            await putJson(records, runKey(body.run), failed);
          }
          throw err;
        }
        if (next === undefined) {
          await putJson(records, runKey(body.run), { v: 1, status: 'done', value: output });
        } else {
          const prio = job.envelope.prio;
          // The message id is the run and stage: a stage run twice queues its output once
          // (within the queue's dedup window).
          await next.enqueue(
            { run: body.run, input: output },
            { id: `${body.run}.${i + 1}`, ...(prio === undefined ? {} : { prio }) },
          );
        }
      },
      {
        concurrency: spec.concurrency ?? 1,
        ...(signal === undefined ? {} : { signal }),
      },
    );
  };

  return {
    name: options.name,
    stages: options.stages.map((s) => s.name),
    records,
    async submit(input, submitOptions = {}) {
      const run = submitOptions.id ?? createId();
      checkJobId(run);
      await queues[0]!.enqueue(
        { run, input },
        {
          id: `${run}.0`,
          ...(submitOptions.priority === undefined ? {} : { prio: submitOptions.priority }),
        },
      );
      return run;
    },
    run(runOptions = {}) {
      const which = (runOptions.stages ?? options.stages.map((s) => s.name)).map(indexOf);
      const consumers = which.map((i) => consumeStage(i, runOptions.signal));
      const done = Promise.all(consumers.map((c) => c.done)).then(() => undefined);
      return {
        done,
        stop: async () => {
          await Promise.all(consumers.map((c) => c.stop()));
        },
      };
    },
    output(run) {
      checkJobId(run);
      return getJson<PipelineOutput<O>>(records, runKey(run));
    },
    async wait(run, waitOptions = {}) {
      checkJobId(run);
      for (;;) {
        if (waitOptions.signal?.aborted) throw new CancelledError('stopped waiting for the run');
        const out = await getJson<PipelineOutput<O>>(records, runKey(run));
        if (out !== undefined) return out;
        await new Promise((r) => setTimeout(r, waitOptions.pollMs ?? 200));
      }
    },
    queue: (stage) => queues[indexOf(stage)]!,
  };
}
