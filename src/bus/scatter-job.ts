// One scatter job as any process sees it: its status and progress, its results in shard order,
// waiting for it, cancelling it. Everything is read from the job's records (job-records.ts), so
// a process other than the one that started the job, or one started after a crash, sees the
// same job.
import { CancelledError, NotFoundError, type WireErrorBody } from '../protocol/index.js';
import type { RecordStore } from '../transport/records.js';
import {
  getJson,
  metaKey,
  putJson,
  shardKey,
  stopKey,
  type JobMeta,
  type ShardRecord,
  type StopRecord,
} from './job-records.js';

export type ScatterStatus =
  /** The shards are being queued. */
  | 'starting'
  | 'running'
  /** Every shard succeeded. */
  | 'completed'
  /** Every shard ran; some failed (mode `partial`). */
  | 'partial'
  /** A shard failed for good (modes `fail` and `retry`). */
  | 'failed'
  | 'cancelled';

const FINISHED: ReadonlySet<ScatterStatus> = new Set([
  'completed',
  'partial',
  'failed',
  'cancelled',
]);

export interface ScatterProgress {
  readonly status: ScatterStatus;
  /** Undefined while the job is starting. */
  readonly total: number | undefined;
  readonly done: number;
  readonly failed: number;
  /** Shards with no outcome yet. */
  readonly pending: number;
}

/** The outcome of one shard, in shard order. */
export type ShardOutcome<R> =
  | { readonly shard: number; readonly ok: true; readonly value: R }
  | { readonly shard: number; readonly ok: false; readonly error: WireErrorBody };

export interface ScatterResult<R> {
  readonly id: string;
  readonly status: ScatterStatus;
  readonly total: number;
  /** The values of the shards that succeeded, in shard order. */
  readonly values: R[];
  /** Every shard that failed or was not run (the job stopped first), in shard order. */
  readonly failures: { readonly shard: number; readonly error: WireErrorBody }[];
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** How often the records are read again. Default 200 ms. */
  pollMs?: number;
  /** Called with each progress read while waiting. */
  onProgress?: (progress: ScatterProgress) => void;
}

/** Parallel reads of shard records, so a scan of a large job costs round trips / WINDOW. */
const WINDOW = 64;

const NOT_RUN: WireErrorBody = {
  code: 'cancelled',
  message: 'not run: the job stopped before this shard',
  retryable: false,
};

export class ScatterJob<R = unknown> {
  /** Outcomes already read: an outcome, once written, is final, so it is read once. */
  private readonly known = new Map<number, ShardRecord>();
  /** Every shard below this one has a known outcome. */
  private frontier = 0;
  private described: JobMeta | undefined;

  constructor(
    readonly id: string,
    private readonly store: RecordStore,
  ) {}

  /** The job's description; rejects `not_found` when no job has this id. */
  async meta(): Promise<JobMeta> {
    // Once it has its total the description never changes again.
    if (this.described !== undefined) return this.described;
    const meta = await getJson<JobMeta>(this.store, metaKey(this.id));
    if (meta === undefined) {
      throw new NotFoundError(`no scatter job '${this.id}' in store '${this.store.name}'`);
    }
    if (meta.total !== undefined) this.described = meta;
    return meta;
  }

  /** Reads how far the job is. Shards already seen finished are not read again. */
  progress(): Promise<ScatterProgress> {
    return this.read('all');
  }

  /**
   * Resolves once the job has finished (completed, partial, failed or cancelled). Each poll reads
   * the shards in order from the first without an outcome, and stops at the first stretch that
   * has one missing, so a poll costs a few reads however large the job: the counts given to
   * `onProgress` are those of the shards read so far (a lower bound of `progress()`'s).
   */
  async wait(options: WaitOptions = {}): Promise<ScatterResult<R>> {
    const pollMs = options.pollMs ?? 200;
    for (;;) {
      if (options.signal?.aborted) throw new CancelledError('stopped waiting for the job');
      const progress = await this.read('frontier');
      options.onProgress?.(progress);
      if (FINISHED.has(progress.status)) return this.collect(progress.status);
      await sleep(pollMs, options.signal);
    }
  }

  private async read(how: 'all' | 'frontier'): Promise<ScatterProgress> {
    const meta = await this.meta();
    const stop = await getJson<StopRecord>(this.store, stopKey(this.id));
    if (meta.total === undefined) {
      const status = stop ? 'cancelled' : 'starting';
      return { status, total: undefined, done: 0, failed: 0, pending: 0 };
    }
    if (how === 'all') await this.scan(meta.total);
    else await this.scanFrontier(meta.total);
    let done = 0;
    let failed = 0;
    for (const r of this.known.values()) {
      if (r.ok) done++;
      else failed++;
    }
    const pending = meta.total - done - failed;
    let status: ScatterStatus;
    if (stop?.reason === 'cancelled') status = 'cancelled';
    else if (stop?.reason === 'failed' || (failed > 0 && meta.mode !== 'partial')) {
      status = 'failed';
    } else if (pending > 0) status = 'running';
    else status = failed > 0 ? 'partial' : 'completed';
    return { status, total: meta.total, done, failed, pending };
  }

  /**
   * Every shard's outcome in shard order, read from the records as they are: a shard with no
   * outcome yet (or never to have one, the job having stopped) is reported as not run.
   */
  async *results(): AsyncGenerator<ShardOutcome<R>> {
    const { total } = await this.meta();
    if (total === undefined) return;
    for (let from = 0; from < total; from += WINDOW) {
      const to = Math.min(total, from + WINDOW);
      await this.scan(to, from);
      for (let shard = from; shard < to; shard++) {
        const r = this.known.get(shard);
        if (r === undefined) yield { shard, ok: false, error: NOT_RUN };
        else if (r.ok) yield { shard, ok: true, value: r.value as R };
        else yield { shard, ok: false, error: r.error };
      }
    }
  }

  /**
   * Stops the job: shards not yet run are skipped by every worker; shards running finish, and
   * their outcomes are kept. A finished job is left as it is. Resolves once the stop is stored.
   */
  async cancel(): Promise<void> {
    const progress = await this.progress();
    if (FINISHED.has(progress.status)) return;
    const stop: StopRecord = { v: 1, reason: 'cancelled', at: Date.now() };
    await putJson(this.store, stopKey(this.id), stop);
  }

  private async collect(status: ScatterStatus): Promise<ScatterResult<R>> {
    const values: R[] = [];
    const failures: { shard: number; error: WireErrorBody }[] = [];
    let total = 0;
    for await (const r of this.results()) {
      total++;
      if (r.ok) values.push(r.value);
      else failures.push({ shard: r.shard, error: r.error });
    }
    return { id: this.id, status, total, values, failures };
  }

  /** Reads on from the first shard without an outcome, up to the first stretch with a gap. */
  private async scanFrontier(total: number): Promise<void> {
    for (let from = this.frontier; from < total; from += WINDOW) {
      const to = Math.min(total, from + WINDOW);
      await this.scan(to, from);
      while (this.frontier < total && this.known.has(this.frontier)) this.frontier++;
      if (this.frontier < to) return;
    }
  }

  /** Reads the outcomes of shards [from, to) not yet known. */
  private async scan(to: number, from = 0): Promise<void> {
    const missing: number[] = [];
    for (let shard = from; shard < to; shard++) if (!this.known.has(shard)) missing.push(shard);
    for (let i = 0; i < missing.length; i += WINDOW) {
      const part = missing.slice(i, i + WINDOW);
      const got = await Promise.all(
        part.map((shard) => getJson<ShardRecord>(this.store, shardKey(this.id, shard))),
      );
      got.forEach((r, j) => {
        if (r !== undefined) this.known.set(part[j]!, r);
      });
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
