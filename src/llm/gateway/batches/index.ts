// The OpenAI Batch API: `POST /v1/batches`, `GET /v1/batches`, `GET /v1/batches/{id}` and
// `POST /v1/batches/{id}/cancel`, over the Files API (files.ts) for the input, output and error
// files. A batch's requests run at the lowest priority on a bounded share of the worker slots
// (slots.ts), so live traffic keeps its latency; the batch is a job on a durable queue that
// resumes after a gateway restart (runner.ts). Clients and operators may use it; a batch is
// visible only to the tenant that made it (docs/security.md).
import { Type } from '@sinclair/typebox';
import type { Bus, Subscription } from '../../../bus/index.js';
import { InvalidMessageError, optionsCheck } from '../../../protocol/index.js';
import type { Logger } from '../../../ops/index.js';
import type { RecordStore } from '../../../transport/records.js';
import type { AdmissionController } from '../../routing/index.js';
import { bodyChecker } from '../body.js';
import type { Dispatcher } from '../dispatch.js';
import { readJson, sendJson, type Ctx } from '../http.js';
import { FileStore } from './file-store.js';
import { DEFAULT_FILES_LIMITS, FilesApi, type FilesLimits } from './files.js';
import { BATCH_ENDPOINTS } from './jsonl.js';
import { listPage } from './page.js';
import { BatchRunner } from './runner.js';
import { BatchSlots } from './slots.js';
import { BatchStore, FINAL, newBatchId, type StoredBatch } from './store.js';

export { batchStoreName, processBatchRecords } from './store.js';
import { batchStoreName } from './store.js';
import { scatterPrefix } from './runner.js';

/**
 * What the Batch API uses on the bus, for NATS grants (nats-config.ts): its record store, its
 * two durable queues (batches to coordinate, lines to run) and the subject of cancels.
 */
export function batchGrantNames(namespace?: string): {
  records: string;
  queues: string[];
  cancel: string;
} {
  return {
    records: batchStoreName(namespace),
    queues: [batchQueueName(namespace), `${scatterPrefix(namespace)}-scatter-batch`],
    cancel: `${namespace === undefined ? '' : `${namespace}.`}llm.gateway.batches.cancel`,
  };
}

/** The durable queue of batches to run: one per namespace, shared by the gateways in it. */
export function batchQueueName(namespace?: string): string {
  return namespace === undefined ? 'llm-batches' : `${namespace}-llm-batches`;
}
export { FilesApi } from './files.js';

export interface BatchOptions {
  /** Fraction of a model's worker slots batch requests may hold at once (0 < share <= 1). Default 0.5. */
  slotShare?: number;
  /** Batches one gateway coordinates at once. Default 4. */
  concurrency?: number;
  /** Lines one gateway takes from the batch queue at once (they then wait for a slot). Default 64. */
  shards?: number;
  /** How long a gateway holds a batch before another may take it over. Default 30000. */
  leaseMs?: number;
  /** How often a running batch's request_counts are written. Default 1000. */
  progressMs?: number;
  /** Largest input file, in bytes. Default 200 MiB. */
  maxFileBytes?: number;
  /** Most requests in one input file. Default 50,000. */
  maxRequests?: number;
}

/** The schema of BatchOptions (a config file's `gateway.batches`). */
export const BatchOptionsSchema = Type.Object(
  {
    slotShare: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    shards: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
    leaseMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
    progressMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 60_000 })),
    maxFileBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    maxRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);

export const checkBatchOptions = optionsCheck('gateway.batches', BatchOptionsSchema);

/** What the API needs from the gateway. */
export interface BatchHost {
  readonly bus: Bus;
  readonly admission: AdmissionController;
  readonly dispatcher: Dispatcher;
  readonly records: RecordStore;
  readonly namespace: string | undefined;
  readonly bodyLimitBytes: number;
  readonly timeoutMs: number;
  readonly log: Logger;
}

const checkCreate = bodyChecker(
  Type.Object({
    input_file_id: Type.String({ minLength: 1, maxLength: 128 }),
    endpoint: Type.String(),
    completion_window: Type.String(),
    metadata: Type.Optional(
      Type.Union([
        Type.Null(),
        Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 512 }), {
          maxProperties: 16,
        }),
      ]),
    ),
    output_expires_after: Type.Optional(
      Type.Object({ anchor: Type.Literal('created_at'), seconds: Type.Integer() }),
    ),
  }),
  'batch',
);

const DAY_S = 24 * 3600;

export class BatchesApi {
  readonly files: FilesApi;
  private readonly store: BatchStore;
  private readonly runner: BatchRunner;
  private cancels: Subscription | undefined;

  constructor(
    private readonly host: BatchHost,
    options: BatchOptions = {},
  ) {
    checkBatchOptions(options);
    const ns = host.namespace;
    const limits: FilesLimits = {
      ...DEFAULT_FILES_LIMITS,
      maxLineBytes: host.bodyLimitBytes,
      ...(options.maxFileBytes === undefined ? {} : { maxFileBytes: options.maxFileBytes }),
      ...(options.maxRequests === undefined ? {} : { maxLines: options.maxRequests }),
    };
    const fileStore = new FileStore(host.bus.blobs, ns);
    this.files = new FilesApi(fileStore, limits);
    this.store = new BatchStore(host.records, host.bus.blobs, ns);
    const slots = new BatchSlots(
      (model) => host.admission.snapshot(model).capacity,
      options.slotShare ?? 0.5,
    );
    this.runner = new BatchRunner(
      host.bus,
      batchQueueName(host.namespace),
      host.namespace,
      host.records,
      this.store,
      fileStore,
      {
        admission: host.admission,
        dispatcher: host.dispatcher,
        slots,
        timeoutMs: host.timeoutMs,
        attempts: 5,
      },
      {
        concurrency: options.concurrency ?? 4,
        shards: options.shards ?? 64,
        leaseMs: options.leaseMs ?? 30_000,
        progressMs: options.progressMs ?? 1000,
      },
      host.log,
    );
  }

  private subject(what: string): string {
    return `${this.host.namespace === undefined ? '' : `${this.host.namespace}.`}llm.${what}`;
  }

  /** Takes batches from the queue, and hears cancels sent by the other gateways. */
  async start(): Promise<void> {
    this.cancels = this.host.bus.subscribe<{ id?: unknown }>(
      this.subject('gateway.batches.cancel'),
      (msg) => {
        if (typeof msg.body?.id === 'string') this.runner.cancelLocal(msg.body.id);
      },
    );
    await this.cancels.ready;
    this.runner.start();
  }

  async close(): Promise<void> {
    this.cancels?.unsubscribe();
    await this.runner.close();
  }

  async create(ctx: Ctx): Promise<void> {
    const body = checkCreate(await readJson(ctx, this.host.bodyLimitBytes));
    if (!(BATCH_ENDPOINTS as readonly string[]).includes(body.endpoint)) {
      throw new InvalidMessageError(
        `endpoint '${body.endpoint.slice(0, 64)}' is not served for batches; use one of ${BATCH_ENDPOINTS.join(', ')}`,
        { details: { param: 'endpoint' } },
      );
    }
    if (body.completion_window !== '24h') {
      throw new InvalidMessageError("completion_window must be '24h'", {
        details: { param: 'completion_window' },
      });
    }
    const tenant = ctx.tenant;
    const input = await this.files.store.get(tenant.name, body.input_file_id);
    if (input.purpose !== 'batch') {
      throw new InvalidMessageError(
        `file '${input.id}' has purpose '${input.purpose}', not 'batch'`,
        {
          details: { param: 'input_file_id' },
        },
      );
    }
    const created = Math.floor(Date.now() / 1000);
    const stored: StoredBatch = {
      tenant: tenant.name,
      ...(tenant.models === undefined ? {} : { models: tenant.models }),
      batch: {
        id: newBatchId(),
        object: 'batch',
        endpoint: body.endpoint,
        errors: null,
        input_file_id: input.id,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: created,
        in_progress_at: null,
        expires_at: created + DAY_S,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        metadata: body.metadata ?? null,
      },
    };
    await this.store.create(stored);
    await this.runner.enqueue(stored.batch.id);
    sendJson(ctx, 200, stored.batch);
  }

  async retrieve(ctx: Ctx, id: string): Promise<void> {
    sendJson(ctx, 200, (await this.store.get(id, ctx.tenant.name)).batch);
  }

  async list(ctx: Ctx): Promise<void> {
    sendJson(ctx, 200, listPage(ctx, await this.store.list(ctx.tenant.name), 100, 20));
  }

  /**
   * Moves the batch to `cancelling`: the gateway running it stops its requests and gathers what
   * finished into the output file, then marks it `cancelled`.
   */
  async cancel(ctx: Ctx, id: string): Promise<void> {
    const stored = await this.store.get(id, ctx.tenant.name);
    const { status } = stored.batch;
    if (FINAL.has(status) || status === 'finalizing') {
      throw new InvalidMessageError(`batch '${id}' is ${status} and cannot be cancelled`, {
        details: { param: 'batch_id' },
      });
    }
    if (status !== 'cancelling') {
      stored.batch.status = 'cancelling';
      stored.batch.cancelling_at = Math.floor(Date.now() / 1000);
      await this.store.put(stored);
    }
    // Every gateway runs lines of the batch: each is told to run no more of them.
    this.runner.cancelLocal(id);
    this.host.bus.publish(this.subject('gateway.batches.cancel'), { id }, { kind: 'event' });
    sendJson(ctx, 200, stored.batch);
  }
}

/** The routes of the Files and Batch APIs, each behind `guard` (the API roles' auth). */
export function batchRoutes(
  api: BatchesApi,
  guard: (h: (ctx: Ctx) => Promise<void>) => (ctx: Ctx) => Promise<void>,
): Record<string, (ctx: Ctx) => Promise<void>> {
  const id = (ctx: Ctx) => ctx.params?.id ?? '';
  const files = api.files;
  return {
    'POST /v1/files': guard((ctx) => files.create(ctx)),
    'GET /v1/files': guard((ctx) => files.list(ctx)),
    'GET /v1/files/{id}': guard((ctx) => files.retrieve(ctx, id(ctx))),
    'DELETE /v1/files/{id}': guard((ctx) => files.delete(ctx, id(ctx))),
    'GET /v1/files/{id}/content': guard((ctx) => files.content(ctx, id(ctx))),
    'POST /v1/batches': guard((ctx) => api.create(ctx)),
    'GET /v1/batches': guard((ctx) => api.list(ctx)),
    'GET /v1/batches/{id}': guard((ctx) => api.retrieve(ctx, id(ctx))),
    'POST /v1/batches/{id}/cancel': guard((ctx) => api.cancel(ctx, id(ctx))),
  };
}
