// Record stores of the memory transport: a Map per store name, kept for the life of the
// transport and shared by every store opened under that name. Values are copied in and out, so a
// caller changing its bytes afterwards changes nothing stored. Unbounded in count: the store
// holds what it is given until it is deleted or expires (at most maxValueBytes per record).
import {
  contractRecords,
  DEFAULT_MAX_RECORD_BYTES,
  resolveRecordOptions,
  type ResolvedRecordOptions,
} from '../records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../records.js';

export interface MemoryRecordEntry {
  readonly value: Uint8Array;
  /** ms epoch; Infinity when kept until deleted. */
  readonly expiresAt: number;
}

export class MemoryRecords implements RecordStore {
  readonly maxValueBytes = DEFAULT_MAX_RECORD_BYTES;

  constructor(
    readonly name: string,
    /** The store's records, in put order (a put moves its key to the end). */
    private readonly entries: Map<string, MemoryRecordEntry>,
    private readonly options: ResolvedRecordOptions,
  ) {}

  put(key: string, value: Uint8Array): Promise<void> {
    const now = this.options.clock.now();
    this.sweep(now);
    const ttl = this.options.ttlMs;
    this.entries.delete(key);
    this.entries.set(key, {
      value: value.slice(),
      expiresAt: ttl === undefined ? Number.POSITIVE_INFINITY : now + ttl,
    });
    return Promise.resolve();
  }

  get(key: string): Promise<Uint8Array | undefined> {
    const entry = this.live(key);
    return Promise.resolve(entry?.value.slice());
  }

  delete(key: string): Promise<boolean> {
    const found = this.live(key) !== undefined;
    this.entries.delete(key);
    return Promise.resolve(found);
  }

  private live(key: string): MemoryRecordEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.options.clock.now()) return entry;
    this.entries.delete(key);
    return undefined;
  }

  /**
   * Drops expired records from the front. Stores opened with one TTL expire in put order, so
   * this stops at the first live one; records put under a longer TTL (another opening of the
   * store) may shield shorter ones behind them until they are read or their turn comes.
   */
  private sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(key);
    }
  }
}

/** A record store of its own in this process, outside any transport (never closed). */
export function processRecordStore(name: string, options?: RecordStoreOptions): RecordStore {
  const resolved = resolveRecordOptions(name, options);
  return contractRecords(new MemoryRecords(name, new Map(), resolved), {
    isClosed: () => false,
    what: 'process record store',
  });
}
