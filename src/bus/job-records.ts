// The records a scatter job keeps in its record store (docs/protocol.md, "Scatter jobs"): the
// job's description, one result per shard, and the stop mark. Every write is keyed by job and
// shard, so writing the same shard twice leaves one record: the job's output never holds a
// shard twice, whichever process wrote it and however often.
import { ConfigError, InvalidMessageError, type WireErrorBody } from '../protocol/index.js';
import type { RecordStore } from '../transport/records.js';

/** What a job does when a shard's handler fails (docs/dataplane.md). */
export type ShardFailureMode = 'fail' | 'retry' | 'partial';

/** Job ids: record-key safe, and short enough for the shard keys built on them. */
export const JOB_ID_RE = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * Names of scatters, pipelines and stages: queue- and store-name safe, without the '-' that
 * separates the parts of the names built from them (`<prefix>-scatter-<name>`).
 */
export const PART_NAME_RE = /^[A-Za-z0-9_]{1,32}$/;
/** The prefix of every queue and record store a scatter or pipeline uses. */
export const PREFIX_RE = /^[A-Za-z0-9_]{1,16}$/;
export const DEFAULT_PREFIX = 'pipe';

/** `job.<id>`: written by `start`, first without `total`, then with it once every shard is queued. */
export interface JobMeta {
  readonly v: 1;
  readonly id: string;
  readonly mode: ShardFailureMode;
  readonly retries: number;
  /** ms epoch */
  readonly createdAt: number;
  /** Undefined while the shards are being queued. */
  readonly total?: number;
}

/** `job.<id>.s.<n>`: the outcome of shard n, written once its handler ran for the last time. */
export type ShardRecord =
  | { readonly v: 1; readonly ok: true; readonly value: unknown; readonly attempt: number }
  | {
      readonly v: 1;
      readonly ok: false;
      readonly error: WireErrorBody;
      readonly attempt: number;
    };

/** `job.<id>.stop`: the job ends early; shards not yet run are skipped. */
export interface StopRecord {
  readonly v: 1;
  readonly reason: 'cancelled' | 'failed';
  /** ms epoch */
  readonly at: number;
  /** The shard whose failure ended the job (reason `failed`). */
  readonly shard?: number;
}

export const metaKey = (job: string) => `job.${job}`;
export const shardKey = (job: string, shard: number) => `job.${job}.s.${shard}`;
export const stopKey = (job: string) => `job.${job}.stop`;

export function checkJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !JOB_ID_RE.test(id)) {
    throw new ConfigError(
      `job id ${typeof id === 'string' ? `'${id.slice(0, 120)}'` : `(a ${typeof id})`} must be ` +
        "1-100 characters of letters, digits, '_' or '-'",
    );
  }
}

export function checkPartName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || !PART_NAME_RE.test(name)) {
    throw new ConfigError(`${what} must be 1-32 characters of letters, digits or '_'`);
  }
}

export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    throw new ConfigError("prefix must be 1-16 characters of letters, digits or '_'");
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export async function putJson(store: RecordStore, key: string, value: unknown): Promise<void> {
  await store.put(key, encoder.encode(JSON.stringify(value)));
}

/** The record under key, parsed; a record that is not JSON is reported as a bad message. */
export async function getJson<T>(store: RecordStore, key: string): Promise<T | undefined> {
  const bytes = await store.get(key);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (cause) {
    throw new InvalidMessageError(`record '${key}' of store '${store.name}' is not JSON`, {
      cause,
    });
  }
}
