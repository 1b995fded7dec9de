// Record stores of the sqlite transport: rows of `llmwire_records` in the transport's file
// (schema.ts), so every process opening the file sees the same records. Writes go through the
// group commit and resolve once committed; reads are plain SELECTs that skip expired rows, and
// the next put to a store deletes its expired rows.
import type { Statement } from 'better-sqlite3';
import { DEFAULT_MAX_RECORD_BYTES, type ResolvedRecordOptions } from '../records-contract.js';
import type { RecordStore } from '../records.js';
import { storeError, type GroupCommit } from './group-commit.js';
import type { Db } from './schema.js';

/** The statements of every record store of one file, prepared once per transport. */
export class RecordStatements {
  readonly upsert: Statement<[string, string, number | null, Buffer]>;
  readonly select: Statement<[string, string, number], { value: Buffer }>;
  readonly remove: Statement<[string, string], { expires_at: number | null }>;
  readonly sweep: Statement<[string, number]>;

  constructor(db: Db) {
    this.upsert = db.prepare(
      `INSERT INTO llmwire_records (store, key, expires_at, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (store, key) DO UPDATE SET expires_at = excluded.expires_at, value = excluded.value`,
    );
    this.select = db.prepare(
      `SELECT value FROM llmwire_records
       WHERE store = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`,
    );
    this.remove = db.prepare(
      'DELETE FROM llmwire_records WHERE store = ? AND key = ? RETURNING expires_at',
    );
    this.sweep = db.prepare(
      'DELETE FROM llmwire_records WHERE store = ? AND expires_at IS NOT NULL AND expires_at <= ?',
    );
  }
}

export interface RecordsContext {
  readonly commit: GroupCommit;
  readonly statements: () => RecordStatements;
}

export class SqliteRecords implements RecordStore {
  readonly maxValueBytes = DEFAULT_MAX_RECORD_BYTES;

  constructor(
    readonly name: string,
    private readonly options: ResolvedRecordOptions,
    private readonly ctx: RecordsContext,
  ) {}

  put(key: string, value: Uint8Array): Promise<void> {
    const blob = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return this.ctx.commit.run(() => {
      const st = this.ctx.statements();
      const now = this.options.clock.now();
      st.sweep.run(this.name, now);
      const ttl = this.options.ttlMs;
      st.upsert.run(this.name, key, ttl === undefined ? null : now + ttl, blob);
    });
  }

  get(key: string): Promise<Uint8Array | undefined> {
    try {
      const row = this.ctx.statements().select.get(this.name, key, this.options.clock.now());
      return Promise.resolve(row?.value);
    } catch (err) {
      return Promise.reject(storeError(err));
    }
  }

  delete(key: string): Promise<boolean> {
    return this.ctx.commit.run(() => {
      const now = this.options.clock.now();
      const rows = this.ctx.statements().remove.all(this.name, key);
      return rows.some((r) => r.expires_at === null || r.expires_at > now);
    });
  }
}
