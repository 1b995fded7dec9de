// Runs batches on the bus's scatter-gather (createScatter): each line of a batch is one shard on
// a durable queue, run by whichever gateway takes it (execute.ts) and its answer kept as the
// shard's outcome; one gateway at a time coordinates a batch (a job on a second durable queue):
// it checks the input file, starts the scatter, writes progress, passes a cancel on, and gathers
// the outcomes, in line order, into the output and error files. A gateway that stops or dies
// leaves its shards and its coordination to be delivered again (after their lease, to any
// gateway); a line with an outcome is not run again, so every custom_id is in the output once.
import { createHash } from 'node:crypto';
import {
  CancelledError,
  toWireError,
  UnavailableError,
  type WireErrorBody,
} from '../../../protocol/index.js';
import { createScatter, type Bus, type BusQueue, type Consumer } from '../../../bus/index.js';
import type { Scatter, ScatterJob } from '../../../bus/index.js';
import { metaKey, shardKey, stopKey } from '../../../bus/job-records.js';
import type { Logger } from '../../../ops/index.js';
import type { RecordStore } from '../../../transport/records.js';
import { executeLine, expiredResult, type ExecuteHost } from './execute.js';
import type { FileStore } from './file-store.js';
import { gather, type Outcome } from './gather.js';
import { jsonlLines, parseBatchLine, type BatchLine } from './jsonl.js';
import { FINAL, type BatchStore, type StoredBatch, type StoredResult } from './store.js';

export interface RunnerOptions {
  /** Batches this gateway coordinates at once. */
  concurrency: number;
  /** Lines this gateway takes from the shard queue at once (they then wait for a slot). */
  shards: number;
  /** How long a gateway holds a batch or a line before another may take it over. */
  leaseMs: number;
  /** How often progress is written and a cancel looked for. */
  progressMs: number;
}

/** One line as a shard: the line, and whose it is (any gateway may run it). */
interface ShardItem {
  tenant: string;
  models?: string[];
  requestId: string;
  line: BatchLine;
}

const now = () => Math.floor(Date.now() / 1000);

/** The scatter's queue prefix for a namespace (a prefix is 1-16 of [A-Za-z0-9_]). */
export function scatterPrefix(namespace: string | undefined): string {
  if (namespace === undefined) return 'llm';
  return `n${createHash('sha256').update(namespace).digest('hex').slice(0, 15)}`;
}

export function requestIdOf(batchId: string, index: number): string {
  return `batch_req_${batchId.slice(6)}_${index}`;
}

export class BatchRunner {
  private readonly queue: BusQueue<{ id: string }>;
  private readonly scatter: Scatter<ShardItem, StoredResult>;
  private consumers: Consumer[] = [];
  /** Batches cancelled (heard here): their lines not yet running are not run. */
  private readonly cancelled = new Set<string>();

  constructor(
    bus: Bus,
    queueName: string,
    namespace: string | undefined,
    private readonly records: RecordStore,
    private readonly store: BatchStore,
    private readonly files: FileStore,
    exec: ExecuteHost,
    private readonly options: RunnerOptions,
    private readonly log: Logger,
  ) {
    const queue = {
      leaseMs: options.leaseMs,
      // Every gateway restart mid-batch is an attempt; a batch is not given up for those.
      maxAttempts: 1000,
      backoff: { initialMs: 500, maxMs: 5000 },
    };
    this.queue = bus.queue<{ id: string }>(queueName, queue);
    this.scatter = createScatter<ShardItem, StoredResult>(bus, {
      name: 'batch',
      prefix: scatterPrefix(namespace),
      records,
      queue,
      handler: async (item, ctx) => {
        const batch = ctx.job;
        if (this.cancelled.has(batch)) throw new CancelledError('batch cancelled');
        try {
          return await executeLine(exec, {
            tenant: { name: item.tenant, ...(item.models ? { models: item.models } : {}) },
            requestId: item.requestId,
            line: item.line,
            signal: ctx.signal,
            runs: () => !this.cancelled.has(batch),
          });
        } catch (err) {
          if (this.cancelled.has(batch)) throw new CancelledError('batch cancelled');
          // Stopping, or the lease lost: the line runs again, here or on another gateway.
          throw new UnavailableError('line stopped before its answer', {
            cause: err instanceof Error ? err : undefined,
          });
        }
      },
    });
  }

  start(): void {
    this.consumers = [
      this.queue.consume((job) => this.run(job.body.id, job.signal), {
        concurrency: this.options.concurrency,
        extendEveryMs: Math.max(100, Math.floor(this.options.leaseMs / 3)),
      }),
      this.scatter.work({ concurrency: this.options.shards }),
    ];
  }

  async enqueue(id: string): Promise<void> {
    await this.queue.enqueue({ id }, { id: `run-${id}` });
  }

  /** Lines of the batch not yet running here are not run. */
  cancelLocal(id: string): void {
    this.cancelled.add(id);
  }

  /** Stops taking batches and lines; those running stop and run again later (or elsewhere). */
  async close(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.stop()));
  }

  private async run(id: string, stopping: AbortSignal): Promise<void> {
    let stored = await this.store.load(id);
    if (stored === undefined || FINAL.has(stored.batch.status)) return;
    try {
      if (stored.batch.status === 'validating') stored = await this.validate(stored);
      if (stored.batch.status === 'in_progress') stored = await this.follow(stored, stopping);
      if (!FINAL.has(stored.batch.status)) await this.finish(stored);
    } catch (err) {
      // Stopping: the job is delivered again, and resumes from the outcomes kept.
      if (stopping.aborted) throw new UnavailableError('gateway closing');
      const wire = toWireError(err);
      this.log.warn({ batch: id, error: wire.code, reason: String(err) }, 'batch failed');
      const latest = (await this.store.load(id)) ?? stored;
      latest.batch.status = 'failed';
      latest.batch.failed_at = now();
      latest.batch.errors = {
        object: 'list',
        data: [{ code: wire.code, message: wire.message, param: null, line: null }],
      };
      await this.store.put(latest);
    }
  }

  private async *lines(stored: StoredBatch): AsyncGenerator<BatchLine> {
    const { reader } = await this.files.open(stored.tenant, stored.batch.input_file_id);
    let n = 0;
    for await (const text of jsonlLines(reader)) yield parseBatchLine(text, ++n);
  }

  /** The input file is the tenant's and every line is for the batch's endpoint; then it starts. */
  private async validate(stored: StoredBatch): Promise<StoredBatch> {
    const { batch } = stored;
    const errors: { code: string; message: string; param: string | null; line: number | null }[] =
      [];
    let total = 0;
    let model: string | undefined;
    try {
      for await (const line of this.lines(stored)) {
        total += 1;
        if (line.url !== batch.endpoint && errors.length < 100) {
          errors.push({
            code: 'mismatched_endpoint',
            message: `line ${total}: url '${line.url}' is not the batch's endpoint '${batch.endpoint}'`,
            param: 'url',
            line: total,
          });
        }
        if (typeof line.body.model === 'string') model ??= line.body.model;
      }
    } catch (err) {
      const wire = toWireError(err);
      const line = typeof wire.details?.line === 'number' ? wire.details.line : null;
      errors.push({ code: wire.code, message: wire.message, param: 'input_file_id', line });
    }
    const latest = (await this.store.load(batch.id)) ?? stored;
    if (errors.length > 0) {
      latest.batch.status = 'failed';
      latest.batch.failed_at = now();
      latest.batch.errors = { object: 'list', data: errors };
    } else if (latest.batch.status === 'validating') {
      latest.batch.status = 'in_progress';
      latest.batch.in_progress_at = now();
      latest.batch.request_counts = { total, completed: 0, failed: 0 };
      if (model !== undefined) latest.batch.model = model;
    }
    await this.store.put(latest);
    return latest;
  }

  /**
   * Starts the scatter (or resumes starting it), then follows it: progress into request_counts,
   * a cancel or the end of the completion window into a stop, until every line has an outcome.
   */
  private async follow(stored: StoredBatch, stopping: AbortSignal): Promise<StoredBatch> {
    const id = stored.batch.id;
    const items = async function* (lines: AsyncIterable<BatchLine>): AsyncGenerator<ShardItem> {
      let index = 0;
      for await (const line of lines) {
        yield {
          tenant: stored.tenant,
          ...(stored.models === undefined ? {} : { models: stored.models }),
          requestId: requestIdOf(id, index++),
          line,
        };
      }
    };
    const job = await this.scatter.start(items(this.lines(stored)), {
      id,
      failure: 'partial',
      retries: 100,
      priority: 2,
    });
    let expired = false;
    for (;;) {
      if (stopping.aborted) throw new UnavailableError('gateway closing');
      const progress = await job.progress();
      const counts = await countsOf(job);
      const latest = (await this.store.load(id)) ?? stored;
      const finished = progress.status !== 'running' && progress.status !== 'starting';
      if (!finished && latest.batch.status === 'cancelling') {
        this.cancelled.add(id);
        await job.cancel();
        continue;
      }
      if (!finished && !expired && Date.now() >= latest.batch.expires_at * 1000) {
        expired = true;
        await job.cancel();
        continue;
      }
      latest.batch.request_counts = { ...latest.batch.request_counts, ...counts };
      if (finished) {
        if (expired) {
          latest.batch.status = 'expired';
        } else if (latest.batch.status === 'cancelling' || progress.status === 'cancelled') {
          latest.batch.status = 'cancelling';
          latest.batch.cancelling_at ??= now();
        } else {
          latest.batch.status = 'finalizing';
          latest.batch.finalizing_at = now();
        }
      }
      await this.store.put(latest);
      if (finished) return latest;
      await sleep(this.options.progressMs, stopping);
    }
  }

  /** Gathers the outcomes into the output and error files, sets the final status, cleans up. */
  private async finish(stored: StoredBatch): Promise<void> {
    const { batch } = stored;
    const final =
      batch.status === 'cancelling'
        ? 'cancelled'
        : batch.status === 'expired'
          ? 'expired'
          : 'completed';
    const job = this.scatter.job(batch.id);
    const outcomes = async function* (): AsyncGenerator<Outcome> {
      for await (const r of job.results()) {
        yield r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error };
      }
    };
    const out = await gather(
      this.files,
      stored,
      (line, index, outcome) => {
        if (outcome.ok) return outcome.value;
        // A line the batch never ran: an error line when the window expired, else left out.
        return final === 'expired' && notRun(outcome.error)
          ? expiredResult({ requestId: requestIdOf(batch.id, index), line })
          : undefined;
      },
      () => this.lines(stored),
      outcomes,
    );
    const latest = (await this.store.load(batch.id)) ?? stored;
    Object.assign(latest.batch, out);
    latest.batch.status = final;
    if (final === 'cancelled') latest.batch.cancelled_at = now();
    else if (final === 'expired') latest.batch.expired_at = now();
    else latest.batch.completed_at = now();
    await this.store.put(latest);
    this.cancelled.delete(batch.id);
    // The outcomes are in the files now.
    for (let i = 0; i < batch.request_counts.total; i++) {
      await this.records.delete(shardKey(batch.id, i)).catch(() => false);
    }
    await this.records.delete(stopKey(batch.id)).catch(() => false);
    await this.records.delete(metaKey(batch.id)).catch(() => false);
  }
}

function notRun(error: WireErrorBody): boolean {
  return error.code === 'cancelled';
}

/** request_counts from the outcomes so far: answered lines, and lines answered with an error. */
async function countsOf(
  job: ScatterJob<StoredResult>,
): Promise<{ completed: number; failed: number }> {
  let completed = 0;
  let failed = 0;
  for await (const r of job.results()) {
    if (!r.ok) continue;
    if (r.value.ok) completed++;
    else failed++;
  }
  return { completed, failed };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
