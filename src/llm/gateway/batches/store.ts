// Where batches are kept: each batch's state (the OpenAI `Batch` object, its tenant) as one
// record in a record store (the bus's durable store: the SQLite journal on the embedded default,
// a JetStream KV bucket on NATS, Redis keys on Redis), and an index entry per batch (an empty
// blob named by tenant) from which a tenant's batches are listed. The same store holds the
// records of the batch's scatter job (`job.<batch id>...`, runner.ts) until it is gathered. A
// batch is only ever shown to the tenant that made it.
import { randomBytes } from 'node:crypto';
import type { Blobs } from '../../../bus/blobs.js';
import { NotFoundError, type WireError } from '../../../protocol/index.js';
import type { RecordStore } from '../../../transport/records.js';
import { processRecordStore } from '../../../transport/memory/records.js';
import { tenantKey } from './file-store.js';

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export interface BatchErrorJson {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** A batch as the API shows it (OpenAI `Batch`). */
export interface BatchJson {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: { object: 'list'; data: BatchErrorJson[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  model?: string;
  usage?: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
}

export interface StoredBatch {
  tenant: string;
  /** The models the tenant's key may use, when it is limited (checked per request). */
  models?: string[];
  batch: BatchJson;
}

/** One request's answer, kept until the batch is gathered. */
export interface StoredResult {
  /** True for an answer (the output file), false for an error (the error file). */
  ok: boolean;
  /** The output line, JSON. */
  line: string;
  usage?: { prompt: number; completion: number; cached: number; reasoning: number };
}

/** Statuses after which nothing changes. */
export const FINAL: ReadonlySet<BatchStatus> = new Set([
  'failed',
  'completed',
  'expired',
  'cancelled',
]);

const ID_RE = /^batch_[0-9a-f]{28}$/;

/** A new batch id: `batch_`, the time in hex (so ids sort by creation) and 16 random hex digits. */
export function newBatchId(): string {
  return `batch_${Date.now().toString(16).padStart(12, '0')}${randomBytes(8).toString('hex')}`;
}

/** The record store batches live in: one per namespace, shared by the gateways in it. */
export function batchStoreName(namespace?: string): string {
  return namespace === undefined ? 'batches' : `${namespace}-batches`;
}

/** Batches kept in this process only: for a gateway given no store (tests, a library use). */
export function processBatchRecords(namespace?: string): RecordStore {
  return processRecordStore(batchStoreName(namespace));
}

function notFound(id: string): WireError {
  return new NotFoundError(`no batch '${id.slice(0, 128)}'`, { details: { param: 'batch_id' } });
}

export class BatchStore {
  private readonly prefix: string;

  constructor(
    private readonly records: RecordStore,
    private readonly blobs: Blobs,
    namespace?: string,
  ) {
    this.prefix = namespace === undefined ? 'openai-batches' : `${namespace}/openai-batches`;
  }

  /** Stores a new batch and its index entry. */
  async create(stored: StoredBatch): Promise<void> {
    await this.put(stored);
    await this.blobs.put(
      `${this.prefix}/${tenantKey(stored.tenant)}/${stored.batch.id}`,
      new Uint8Array(),
      {
        version: '1',
        meta: { tenant: stored.tenant.slice(0, 4096) },
      },
    );
  }

  async put(stored: StoredBatch): Promise<void> {
    await this.records.put(stored.batch.id, Buffer.from(JSON.stringify(stored)));
  }

  /** The batch, whoever's it is; undefined when absent. */
  async load(id: string): Promise<StoredBatch | undefined> {
    const found = ID_RE.test(id) ? await this.records.get(id) : undefined;
    return found === undefined
      ? undefined
      : (JSON.parse(Buffer.from(found).toString('utf8')) as StoredBatch);
  }

  /** The batch if it exists and belongs to `tenant`; NotFoundError otherwise. */
  async get(id: string, tenant: string): Promise<StoredBatch> {
    const stored = await this.load(id);
    if (stored === undefined || stored.tenant !== tenant) throw notFound(id);
    return stored;
  }

  /** The tenant's batches, oldest first. */
  async list(tenant: string): Promise<BatchJson[]> {
    const out: BatchJson[] = [];
    for (const entry of await this.blobs.list(`${this.prefix}/${tenantKey(tenant)}/`)) {
      if (entry.latest.meta?.tenant !== tenant) continue;
      const stored = await this.load(entry.name.slice(entry.name.lastIndexOf('/') + 1));
      if (stored !== undefined && stored.tenant === tenant) out.push(stored.batch);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
