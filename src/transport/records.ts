// Keyed record stores: small durable values by key (stored API responses, for one), kept on each
// transport's natural durable store so that every process on the same broker sees the same
// records. The rules every store follows are checked in records-contract.ts.
import type { Clock } from './clock.js';

export interface RecordStoreOptions {
  /**
   * Records are forgotten this long after their last put, in ms: an integer of at least 1000.
   * Default: kept until deleted. On NATS it is the bucket's max age, so it is the same for every
   * record of the store and the last process to open the store with another value sets it.
   */
  ttlMs?: number;
  /**
   * Where the store reads the time for expiry. Default `Date.now`. Only memory and sqlite read
   * it; the brokers expire records by their own clock (NATS bucket max age, Redis PX).
   */
  clock?: Clock;
}

/** A keyed store of byte values. Every method rejects with ClosedError once its transport is closed. */
export interface RecordStore {
  readonly name: string;
  /** Largest value this store accepts, in bytes. */
  readonly maxValueBytes: number;
  /** Stores (or replaces) the value under key; resolves once the broker (or file) holds it. */
  put(key: string, value: Uint8Array): Promise<void>;
  /** The value, or undefined when absent or expired. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** True when a record was removed. */
  delete(key: string): Promise<boolean>;
}
