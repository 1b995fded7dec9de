// Record stores of the redis transport: one plain string key per record,
// `<prefix>r:{<store>}:<key>` (keys.ts), written with SET ... PX when the store has a TTL, so
// Redis itself forgets it. Every process on the same Redis and prefix sees the same records;
// ACLs that grant `<prefix>r:*` grant them.
import type { Redis } from 'ioredis';
import { DEFAULT_MAX_RECORD_BYTES, type ResolvedRecordOptions } from '../records-contract.js';
import type { RecordStore } from '../records.js';
import type { KeyLayout } from './keys.js';
import { redisFailure } from './queue-store.js';

export class RedisRecords implements RecordStore {
  /** Redis strings go to 512 MB; a record is one reply, so it is kept to the common limit. */
  readonly maxValueBytes = DEFAULT_MAX_RECORD_BYTES;
  private readonly base: string;

  constructor(
    readonly name: string,
    private readonly options: ResolvedRecordOptions,
    private readonly cmd: Redis,
    keys: KeyLayout,
  ) {
    this.base = keys.recordBase(name);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const data = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const ttl = this.options.ttlMs;
    try {
      if (ttl === undefined) await this.cmd.set(this.base + key, data);
      else await this.cmd.set(this.base + key, data, 'PX', ttl);
    } catch (err) {
      throw redisFailure(err, 'record store');
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return (await this.cmd.getBuffer(this.base + key)) ?? undefined;
    } catch (err) {
      throw redisFailure(err, 'record store');
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      return (await this.cmd.del(this.base + key)) > 0;
    } catch (err) {
      throw redisFailure(err, 'record store');
    }
  }
}
