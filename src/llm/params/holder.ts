// A worker's side of rollouts: hears each new rollout record of a model its backend serves,
// downloads the version's blob to local disk (resuming a download cut by a restart), checks it
// against the record's SHA-256, loads it through the backend, and keeps the few newest versions
// of each model and adapter. What it holds goes out in the worker's heartbeats.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '../../bus/index.js';
import type { Subscription } from '../../bus/subscription.js';
import { silentLogger, type Logger } from '../../ops/index.js';
import {
  ChunkCorruptError,
  parseTarget,
  toWireError,
  UnavailableError,
  type HeldParams,
  type RolloutRecord,
} from '../../protocol/index.js';
import type { Backend, ParamsUse } from '../backends/backend.js';
import { Params } from './client.js';

export interface ParamsHolderOptions {
  bus: Bus;
  backend: Backend;
  worker: string;
  namespace?: string | undefined;
  /** Where versions are downloaded. Default `<tmpdir>/llmwire-params/<worker id>`. */
  dir?: string | undefined;
  /** Versions kept loaded per model and adapter. Default 2 (the new one and the one before). */
  keepVersions?: number | undefined;
  /** Called whenever what the worker holds changes (so it can beat at once). */
  onChange?: () => void;
  logger?: Logger | undefined;
}

interface Held extends HeldParams {
  path: string;
  /** Order of loading, to keep the newest. */
  seq: number;
}

const RETRIES = 3;
/** Asking again for the current records while no rollout service answers: 2 s doubling to 30 s. */
const LIST_RETRY_MS = 2000;
const LIST_RETRY_MAX_MS = 30_000;

function sameTarget(a: { model: string; adapter?: string | undefined }, r: RolloutRecord) {
  return a.model === r.model && a.adapter === r.adapter;
}

async function fileSum(path: string): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
    return 'sha256:' + hash.digest('base64url');
  } catch {
    return undefined;
  }
}

export class ParamsHolder {
  private readonly params: Params;
  private readonly dir: string;
  private readonly keep: number;
  private readonly log: Logger;
  private readonly held = new Map<string, Held>();
  private sub: Subscription | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly abort = new AbortController();

  constructor(private readonly options: ParamsHolderOptions) {
    this.params = new Params(options.bus, { namespace: options.namespace });
    this.dir = options.dir ?? join(tmpdir(), 'llmwire-params', options.worker);
    this.keep = options.keepVersions ?? 2;
    this.log = options.logger ?? silentLogger;
  }

  /**
   * Starts hearing rollouts and catches up on the current records (retried until answered). A
   * bus that refuses the subscription (permissions without the rollout subjects) leaves the
   * worker serving without rollouts: logged, not fatal.
   */
  async start(): Promise<void> {
    this.sub = this.params.watch(
      (r) => this.take(r),
      (err) => this.options.bus.reportError(err),
    );
    try {
      await this.sub.ready;
    } catch (err) {
      this.log.warn(
        { error: toWireError(err).code, subject: this.params.subjects.paramsRollouts },
        'params: cannot hear rollouts; this worker takes none',
      );
      return;
    }
    void this.catchUp();
  }

  stop(): void {
    this.abort.abort();
    this.sub?.unsubscribe();
    clearTimeout(this.listTimer);
  }

  /** Resolves once every rollout heard so far is loaded or has failed. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** The versions held, for the heartbeat. */
  list(): HeldParams[] {
    return [...this.held.values()]
      .sort((a, b) => a.seq - b.seq)
      .map(({ model, adapter, version, state, error }) => ({
        model,
        ...(adapter === undefined ? {} : { adapter }),
        version,
        state,
        ...(error === undefined ? {} : { error }),
      }));
  }

  /**
   * What a request's model names: the base model, and the loaded version to use when it names
   * an adapter or a version (the newest loaded when it names no version). Undefined when the
   * name is neither a served model nor a loaded version of one.
   */
  resolve(name: string): { model: string; use?: ParamsUse } | undefined {
    const models = this.options.backend.models();
    if (models.includes(name)) return { model: name };
    const t = parseTarget(name, (m) => models.includes(m));
    if (!models.includes(t.model)) return undefined;
    let best: Held | undefined;
    for (const h of this.held.values()) {
      if (h.state !== 'loaded' || h.model !== t.model || h.adapter !== t.adapter) continue;
      if (t.version !== undefined && h.version !== t.version) continue;
      if (best === undefined || h.seq > best.seq) best = h;
    }
    if (best === undefined) return undefined;
    return { model: t.model, use: { adapter: best.adapter, version: best.version } };
  }

  private async catchUp(delayMs = LIST_RETRY_MS): Promise<void> {
    try {
      for (const r of await this.params.list()) this.take(r);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.log.debug({ error: toWireError(err).code }, 'params: no rollout service yet');
      this.listTimer = setTimeout(
        () => void this.catchUp(Math.min(delayMs * 2, LIST_RETRY_MAX_MS)),
        delayMs,
      );
      this.listTimer.unref();
    }
  }

  /** Queues a record: loads run one at a time, in the order records arrive. */
  private take(record: RolloutRecord): void {
    if (!this.options.backend.models().includes(record.model)) return;
    const key = `${record.model}@${record.adapter ?? ''}:${record.version}`;
    const known = this.held.get(key);
    if (known !== undefined && known.state !== 'failed') return;
    const path = join(
      this.dir,
      `${record.model}@${record.adapter ?? ''}`.replace(/[^A-Za-z0-9._@-]/g, '_'),
      record.version,
    );
    this.held.set(key, {
      model: record.model,
      ...(record.adapter === undefined ? {} : { adapter: record.adapter }),
      version: record.version,
      state: 'loading',
      path,
      seq: ++this.seq,
    });
    this.options.onChange?.();
    this.chain = this.chain.then(() => this.load(key, record, path));
  }

  private async load(key: string, record: RolloutRecord, path: string): Promise<void> {
    const entry = this.held.get(key);
    if (entry === undefined || this.abort.signal.aborted) return;
    let lastError: unknown;
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      try {
        await this.fetchAndLoad(record, path);
        entry.state = 'loaded';
        delete entry.error;
        this.log.info(
          { model: record.model, adapter: record.adapter, version: record.version },
          'params loaded',
        );
        await this.evict(record);
        this.options.onChange?.();
        return;
      } catch (err) {
        lastError = err;
        if (this.abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt).unref());
      }
    }
    entry.state = 'failed';
    entry.error = toWireError(lastError).code;
    this.log.warn(
      { model: record.model, adapter: record.adapter, version: record.version, error: entry.error },
      'params load failed',
    );
    this.options.onChange?.();
  }

  private async fetchAndLoad(record: RolloutRecord, path: string): Promise<void> {
    const { backend, bus } = this.options;
    if (backend.loadParams === undefined) {
      throw new UnavailableError(`the ${backend.kind} backend cannot load params`);
    }
    // A file kept from before a restart is used as it is when it still matches.
    if ((await fileSum(path)) !== record.blob.sum) {
      await mkdir(join(path, '..'), { recursive: true });
      const { manifest } = await bus.blobs.getFile(record.blob.name, path, {
        version: record.blob.version,
        signal: this.abort.signal,
      });
      if (manifest.sum !== record.blob.sum) {
        await rm(path, { force: true });
        throw new ChunkCorruptError(
          `params ${record.model}@${record.adapter ?? ''}:${record.version}: blob sum ${manifest.sum} is not the record's ${record.blob.sum}`,
        );
      }
    }
    await backend.loadParams({
      model: record.model,
      adapter: record.adapter,
      version: record.version,
      path,
      sum: record.blob.sum,
      size: record.blob.size,
      signal: this.abort.signal,
    });
  }

  /** Unloads the oldest loaded versions of the record's model and adapter past `keepVersions`. */
  private async evict(record: RolloutRecord): Promise<void> {
    const loaded = [...this.held.entries()]
      .filter(([, h]) => h.state === 'loaded' && sameTarget(h, record))
      .sort(([, a], [, b]) => b.seq - a.seq);
    for (const [key, h] of loaded.slice(this.keep)) {
      this.held.delete(key);
      await this.options.backend.unloadParams?.(h).catch(() => undefined);
      await rm(h.path, { force: true }).catch(() => undefined);
    }
  }
}
