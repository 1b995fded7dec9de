// The SQLite layout of durable queues: live messages, dead letters and dedup ids, keyed by queue
// name so many queues and many processes can share one file. Opened in WAL mode.
import Database from 'better-sqlite3';
import { ConfigError } from '../../protocol/index.js';

export type Db = Database.Database;

/** Bumped when the layout changes; a file written by another version is refused, not migrated. */
export const SCHEMA_VERSION = 1;

/**
 * Where a live message stands. `blocked` is a keyed message waiting behind an earlier one of the
 * same key; only the oldest message of a key is ever in another state.
 */
export const State = { ready: 0, delayed: 1, leased: 2, blocked: 3 } as const;
export type State = (typeof State)[keyof typeof State];

// Each partial index holds only the rows in one state, so finding the next ready message, the
// next due delay and the next lease to expire are each one index seek whatever the backlog.
const DDL = `
CREATE TABLE IF NOT EXISTS llmwire_queue_messages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  queue        TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  prio         INTEGER NOT NULL,
  key          TEXT,
  state        INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  lease_until  INTEGER NOT NULL DEFAULT 0,
  attempts     INTEGER NOT NULL DEFAULT 0,
  expires_at   INTEGER,
  error        TEXT,
  frame        BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS llmwire_queue_ready
  ON llmwire_queue_messages (queue, prio DESC, seq) WHERE state = 0;
CREATE INDEX IF NOT EXISTS llmwire_queue_delayed
  ON llmwire_queue_messages (queue, available_at) WHERE state = 1;
CREATE INDEX IF NOT EXISTS llmwire_queue_leased
  ON llmwire_queue_messages (queue, lease_until) WHERE state = 2;
CREATE INDEX IF NOT EXISTS llmwire_queue_keys
  ON llmwire_queue_messages (queue, key, seq) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS llmwire_queue_expiry
  ON llmwire_queue_messages (queue, expires_at) WHERE expires_at IS NOT NULL;

-- Messages held per queue, maintained by the writers (one update per transaction).
CREATE TABLE IF NOT EXISTS llmwire_queue_depth (
  queue TEXT PRIMARY KEY,
  depth INTEGER NOT NULL
) WITHOUT ROWID;
-- One row per message id: its last enqueue (seq) and the end of its dedup window (until). A row
-- outlives its window while that message is still live, so it doubles as the index of live ids
-- and the messages table needs none; recheck is when pruning next looks at the row.
CREATE TABLE IF NOT EXISTS llmwire_queue_dedup (
  queue   TEXT    NOT NULL,
  id      TEXT    NOT NULL,
  until   INTEGER NOT NULL,
  seq     INTEGER NOT NULL,
  recheck INTEGER NOT NULL,
  PRIMARY KEY (queue, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS llmwire_queue_dedup_recheck ON llmwire_queue_dedup (recheck);

CREATE TABLE IF NOT EXISTS llmwire_queue_dead (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  queue    TEXT    NOT NULL,
  id       TEXT    NOT NULL,
  reason   TEXT    NOT NULL,
  attempts INTEGER NOT NULL,
  error    TEXT,
  dead_at  INTEGER NOT NULL,
  frame    BLOB    NOT NULL,
  UNIQUE (queue, id)
);

-- Record stores (records.ts): one row per live record. Expired rows are skipped by reads and
-- removed by the next put to their store. Added without a version bump: older builds never
-- read it, and CREATE IF NOT EXISTS adds it to files they wrote.
CREATE TABLE IF NOT EXISTS llmwire_records (
  store      TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  expires_at INTEGER,
  value      BLOB    NOT NULL,
  PRIMARY KEY (store, key)
);
CREATE INDEX IF NOT EXISTS llmwire_records_expiry
  ON llmwire_records (store, expires_at) WHERE expires_at IS NOT NULL;
`;

export interface OpenOptions {
  path: string;
  /** How long a writer waits for another process's transaction before failing. */
  busyTimeoutMs: number;
}

/** Opens (creating if needed) a queue file and brings its layout up to this version. */
export function openDatabase(options: OpenOptions): Db {
  let db: Db;
  try {
    db = new Database(options.path, { timeout: options.busyTimeoutMs });
  } catch (cause) {
    throw new ConfigError(`cannot open sqlite queue file '${options.path}'`, { cause });
  }
  try {
    // WAL with synchronous=NORMAL: a COMMIT is in the log before it returns, so it survives the
    // process being killed (not a power cut, which would need FULL and an fsync per commit).
    // Larger pages mean fewer WAL frames per commit for rows that carry a whole frame; this only
    // takes effect when the file is created (an existing file keeps its page size).
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('temp_store = MEMORY');
    // 8 MB of page cache: blob parts stream through it page by page, and a larger cache only
    // holds them resident (32 MB kept `llmwire up` above 200 MB serving a 1 GiB blob).
    db.pragma('cache_size = -8000');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== 0 && version !== SCHEMA_VERSION) {
        throw new ConfigError(
          `sqlite queue file '${options.path}' has layout version ${version}; this build reads ${SCHEMA_VERSION}`,
        );
      }
      db.exec(DDL);
      if (version === 0) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } catch (err) {
    db.close();
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot prepare sqlite queue file '${options.path}'`, { cause: err });
  }
  return db;
}

/** A live message row as the queue code reads it (the frame only where needed). */
export interface MessageRow {
  seq: number;
  id: string;
  prio: number;
  key: string | null;
  state: State;
  available_at: number;
  lease_until: number;
  attempts: number;
  expires_at: number | null;
  error: string | null;
}

export interface DeadRow {
  id: string;
  reason: string;
  attempts: number;
  error: string | null;
  dead_at: number;
  frame: Uint8Array;
}
