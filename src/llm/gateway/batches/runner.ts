// Runs batches. Each batch is one job on a durable queue (`bus.queue`), taken by one gateway of
// the bus at a time: it checks the input file, runs every line (execute.ts) and keeps each
// line's result as a record, then gathers the records, in line order, into the output and
// error files. A gateway that stops or dies mid-batch leaves the job to be delivered again
// (after its lease, to any gateway): lines with a result are not run again, so every
// custom_id is in the output exactly once.
import { UnavailableError, CancelledError, toWireError } from '../../../protocol/index.js';
import type { Bus, BusQueue, Consumer } from '../../../bus/index.js';
import type { Logger } from '../../../ops/index.js';
import { executeLine, expiredResult, type ExecuteHost } from './execute.js';
import type { FileStore } from './file-store.js';
import { jsonlLines, parseBatchLine, type BatchLine } from './jsonl.js';
import { gather } from './gather.js';
import { FINAL, type BatchStore, type StoredBatch, type StoredResult } from './store.js';

export interface RunnerOptions {
  /** Batches this gateway runs at once. */
  concurrency: number;
  /** How long a gateway holds a batch before another may take it over (renewed while it runs). */
  leaseMs: number;
  /** How often progress is written and a cancel from another gateway looked for. */
  progressMs: number;
}

interface Running {
  abort: AbortController;
}

const now = () => Math.floor(Date.now() / 1000);

export class BatchRunner {
  private readonly queue: BusQueue<{ id: string }>;
  private consumer: Consumer | undefined;
  private readonly running = new Map<string, Running>();

  constructor(
    bus: Bus,
    queueName: string,
    private readonly store: BatchStore,
    private readonly files: FileStore,
    private readonly exec: ExecuteHost,
    private readonly options: RunnerOptions,
    private readonly log: Logger,
  ) {
    this.queue = bus.queue<{ id: string }>(queueName, {
      leaseMs: options.leaseMs,
      // Every gateway restart mid-batch is an attempt; a batch is not given up for those.
      maxAttempts: 1000,
      backoff: { initialMs: 500, maxMs: 5000 },
    });
  }

  start(): void {
    this.consumer = this.queue.consume((job) => this.run(job.body.id, job.signal), {
      concurrency: this.options.concurrency,
      extendEveryMs: Math.max(100, Math.floor(this.options.leaseMs / 3)),
    });
  }

  async enqueue(id: string): Promise<void> {
    await this.queue.enqueue({ id }, { id: `run-${id}` });
  }

  /** Stops a batch running here; false when it does not run here. */
  cancelLocal(id: string): boolean {
    const r = this.running.get(id);
    r?.abort.abort(new CancelledError('batch cancelled'));
    return r !== undefined;
  }

  /** Stops taking batches; those running stop where they are and run on later (or elsewhere). */
  async close(): Promise<void> {
    for (const r of this.running.values()) r.abort.abort(new UnavailableError('gateway closing'));
    await this.consumer?.stop();
  }

  private async run(id: string, stopping: AbortSignal): Promise<void> {
    let stored = await this.store.load(id);
    if (stored === undefined || FINAL.has(stored.batch.status)) return;
    const abort = new AbortController();
    const onStop = () => abort.abort(new UnavailableError('gateway closing'));
    stopping.addEventListener('abort', onStop, { once: true });
    this.running.set(id, { abort });
    try {
      if (stored.batch.status === 'validating') stored = await this.validate(stored);
      if (stored.batch.status === 'in_progress') stored = await this.execute(stored, abort.signal);
      if (!FINAL.has(stored.batch.status)) await this.finish(stored);
    } catch (err) {
      if (abort.signal.reason instanceof UnavailableError) {
        // Stopping: the job is delivered again, and resumes from the results kept.
        throw abort.signal.reason;
      }
      this.log.warn({ batch: id, error: toWireError(err).code }, 'batch failed');
      const latest = (await this.store.load(id)) ?? stored;
      latest.batch.status = 'failed';
      latest.batch.failed_at = now();
      latest.batch.errors = {
        object: 'list',
        data: [
          {
            code: toWireError(err).code,
            message: toWireError(err).message,
            param: null,
            line: null,
          },
        ],
      };
      await this.store.put(latest);
    } finally {
      stopping.removeEventListener('abort', onStop);
      this.running.delete(id);
    }
  }

  /** The input file is the tenant's, and every line is for the batch's endpoint. */
  private async validate(stored: StoredBatch): Promise<StoredBatch> {
    const { batch } = stored;
    const errors: { code: string; message: string; param: string | null; line: number | null }[] =
      [];
    let total = 0;
    let model: string | undefined;
    try {
      for await (const line of await this.lines(stored)) {
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

  private async *linesOf(stored: StoredBatch): AsyncGenerator<BatchLine> {
    const { reader } = await this.files.open(stored.tenant, stored.batch.input_file_id);
    let n = 0;
    for await (const text of jsonlLines(reader)) yield parseBatchLine(text, ++n);
  }

  private async lines(stored: StoredBatch): Promise<AsyncGenerator<BatchLine>> {
    return this.linesOf(stored);
  }

  /** Runs the lines without a result yet; resolves when all have one or the batch stops. */
  private async execute(stored: StoredBatch, signal: AbortSignal): Promise<StoredBatch> {
    const id = stored.batch.id;
    const counts = { completed: 0, failed: 0 };
    const tenant = {
      name: stored.tenant,
      ...(stored.models === undefined ? {} : { models: stored.models }),
    };
    const tally = (r: StoredResult) => (r.ok ? counts.completed++ : counts.failed++);
    const tasks = new Set<Promise<void>>();
    let stopped: 'cancelling' | 'expired' | undefined;
    let last = Date.now();
    const progress = async (): Promise<void> => {
      last = Date.now();
      const latest = await this.store.load(id);
      if (latest === undefined) return;
      if (latest.batch.status === 'cancelling') {
        stopped = 'cancelling';
        this.cancelLocal(id);
        return;
      }
      latest.batch.request_counts = { ...latest.batch.request_counts, ...counts };
      await this.store.put(latest);
    };
    let index = -1;
    for await (const line of await this.lines(stored)) {
      index += 1;
      if (signal.aborted) break;
      if (Date.now() - last >= this.options.progressMs) await progress();
      if (stopped !== undefined) break;
      if (Date.now() >= stored.batch.expires_at * 1000) {
        stopped = 'expired';
        break;
      }
      const done = await this.store.getResult(id, index);
      if (done !== undefined) {
        tally(done);
        continue;
      }
      // At most as many lines in flight as the slots batch requests may hold, plus one waiting.
      while (tasks.size > this.exec.slots.limit(modelOf(line))) await Promise.race(tasks);
      const i = index;
      const task = executeLine(this.exec, {
        tenant,
        requestId: `batch_req_${id.slice(6)}_${i}`,
        line,
        signal,
      })
        .then(async (result) => {
          await this.store.putResult(id, i, result);
          tally(result);
        })
        .catch(() => undefined)
        .finally(() => tasks.delete(task));
      tasks.add(task);
    }
    await Promise.allSettled(tasks);
    if (signal.aborted && signal.reason instanceof UnavailableError) throw signal.reason;
    const latest = (await this.store.load(id)) ?? stored;
    latest.batch.request_counts = { ...latest.batch.request_counts, ...counts };
    if (signal.aborted || stopped === 'cancelling' || latest.batch.status === 'cancelling') {
      latest.batch.status = 'cancelling';
      latest.batch.cancelling_at ??= now();
    } else if (stopped === 'expired') {
      latest.batch.status = 'expired';
    } else {
      latest.batch.status = 'finalizing';
      latest.batch.finalizing_at = now();
    }
    await this.store.put(latest);
    return latest;
  }

  /** Gathers the results into the output and error files, and sets the final status. */
  private async finish(stored: StoredBatch): Promise<void> {
    const { batch } = stored;
    const final =
      batch.status === 'cancelling'
        ? 'cancelled'
        : batch.status === 'expired'
          ? 'expired'
          : 'completed';
    const expired = final === 'expired';
    const out = await gather(
      this.files,
      stored,
      async (line, index) => {
        const kept = await this.store.getResult(batch.id, index);
        if (kept !== undefined || !expired) return kept;
        return expiredResult({ requestId: `batch_req_${batch.id.slice(6)}_${index}`, line });
      },
      () => this.lines(stored),
    );
    const latest = (await this.store.load(batch.id)) ?? stored;
    Object.assign(latest.batch, out);
    latest.batch.status = final;
    if (final === 'cancelled') latest.batch.cancelled_at = now();
    else if (final === 'expired') latest.batch.expired_at = now();
    else latest.batch.completed_at = now();
    await this.store.put(latest);
    for (let i = 0; i < batch.request_counts.total; i++) {
      await this.store.deleteResult(batch.id, i).catch(() => false);
    }
  }
}

function modelOf(line: BatchLine): string {
  return typeof line.body.model === 'string' ? line.body.model : '';
}
