// Record stores of the NATS transport: one JetStream KV bucket per store, `<prefix>_REC_<store>`
// (stream `KV_<prefix>_REC_<store>`, subjects `$KV.<prefix>_REC_<store>.<key>`), keeping one
// value per key (history 1). A store's ttlMs is the bucket's max age, so the server forgets a
// record that long after its last put; opening a store with another ttlMs changes the bucket's.
// Values go in one message each: at most the server's max_payload less the adapter's headroom.
import {
  JetStreamApiError,
  StorageType,
  jetstream,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, PermissionViolationError } from '@nats-io/transport-node';
import { ForbiddenError } from '../../protocol/index.js';
import type { ResolvedRecordOptions } from '../records-contract.js';
import type { RecordStore } from '../records.js';
import { brokerError, payloadLimit, type NatsContext } from './context.js';
import { recordBucket } from './names.js';

/** JetStream API error code of a write whose expected last sequence was not the last. */
const WRONG_LAST_SEQUENCE = 10071;

/** A refused subject is the user's grants (ForbiddenError); other failures as brokerError. */
function recordError(err: unknown, what: string): Error {
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError) {
    return new ForbiddenError(`NATS user may not ${what}`, { cause: err });
  }
  return brokerError(err, what);
}

export class NatsRecords implements RecordStore {
  private readonly bucket: string;
  private opening: Promise<KV> | undefined;

  constructor(
    private readonly ctx: NatsContext,
    readonly name: string,
    private readonly options: ResolvedRecordOptions,
  ) {
    this.bucket = recordBucket(ctx.prefix, name);
  }

  get maxValueBytes(): number {
    return payloadLimit(this.ctx);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const kv = await this.kv();
    try {
      await kv.put(key, value);
    } catch (err) {
      throw recordError(err, `put to record store '${this.name}'`);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const kv = await this.kv();
    try {
      const entry = await kv.get(key);
      return entry?.operation === 'PUT' ? entry.value : undefined;
    } catch (err) {
      throw recordError(err, `get from record store '${this.name}'`);
    }
  }

  /**
   * Deletes only the revision it saw (expected last subject sequence), so it answers true exactly
   * when it removed a live record, even with other processes writing the same key.
   */
  async delete(key: string): Promise<boolean> {
    const kv = await this.kv();
    try {
      for (;;) {
        const entry = await kv.get(key);
        if (entry === null || entry.operation !== 'PUT') return false;
        try {
          await kv.delete(key, { previousSeq: entry.revision });
          return true;
        } catch (err) {
          if (!(err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE)) throw err;
        }
      }
    } catch (err) {
      throw recordError(err, `delete from record store '${this.name}'`);
    }
  }

  private kv(): Promise<KV> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined; // the next call tries again
      throw recordError(err, `open record store '${this.name}'`);
    });
    return this.opening;
  }

  /** Creates the bucket (or binds to it) and brings its max age to this store's ttlMs. */
  private async open(): Promise<KV> {
    // No account-info request ($JS.API.INFO) first: a user granted only this bucket can open it.
    const js: JetStreamClient = jetstream(this.ctx.nc, {
      timeout: this.ctx.requestTimeoutMs,
      checkAPI: false,
    });
    const ttl = this.options.ttlMs ?? 0;
    const kv = await new Kvm(js).create(this.bucket, {
      history: 1,
      ttl,
      replicas: this.ctx.setup.replicas,
      storage: this.ctx.setup.storage === 'memory' ? StorageType.Memory : StorageType.File,
    });
    const status = await kv.status();
    if (status.ttl !== ttl) {
      await this.ctx.jsm.streams.update(`KV_${this.bucket}`, { max_age: nanos(ttl) });
    }
    return kv;
  }
}
