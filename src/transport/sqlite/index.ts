// The sqlite transport: durable queues in one SQLite file (embedded, survives a crash of the
// process, shareable by several processes), with publish/subscribe kept in-process.
import { Type } from '@sinclair/typebox';
import { createCodec, type Codec } from '../../codec/codec.js';
import { ClosedError, ConfigError, optionsCheck } from '../../protocol/index.js';
import { createMemoryTransport, type MemoryTransportOptions } from '../memory/index.js';
import { contractQueue } from '../queue-contract.js';
import { contractRecords, resolveRecordOptions } from '../records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../records.js';
import { resolveQueueOptions } from '../queue-policy.js';
import type { DurableQueue, QueueOptions, Transport } from '../transport.js';
import type { BlobStore } from '../blobs.js';
import { contractBlobs } from '../blobs-contract.js';
import { SqliteBlobs } from './blobs.js';
import { TxEffects } from './effects.js';
import { GroupCommit } from './group-commit.js';
import { SqliteQueue, type QueueContext } from './queue.js';
import { RecordStatements, SqliteRecords, type RecordsContext } from './records.js';
import { openDatabase } from './schema.js';
import { prepareStatements } from './statements.js';

export interface SqliteTransportOptions {
  /** The database file (created if missing). Several processes may open the same file. */
  path: string;
  /** Options of the in-process memory transport that carries publish/subscribe. */
  memory?: MemoryTransportOptions;
  /**
   * How often a waiting receive looks for messages written by other processes, in ms. Writes
   * made through this transport wake receivers at once. Default 50.
   */
  pollMs?: number;
  /** How queued envelopes are stored. Default: `createCodec({ open: false })` (JSON; reads both encodings). */
  codec?: Codec;
  /** How long a write waits for another process holding the file's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
}

/** The timing knobs; the path is checked above, the codec and memory options where used. */
const checkTimes = optionsCheck(
  'sqlite transport',
  Type.Object({
    pollMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    busyTimeoutMs: Type.Optional(Type.Number({ minimum: 0 })),
  }),
);

export function createSqliteTransport(options: SqliteTransportOptions): Transport {
  if (typeof options.path !== 'string' || options.path.length === 0) {
    throw new ConfigError('sqlite transport needs a database file path');
  }
  checkTimes(options);
  const pollMs = options.pollMs ?? 50;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  const codec = options.codec ?? createCodec({ open: false });
  const db = openDatabase({ path: options.path, busyTimeoutMs });
  const pubsub = createMemoryTransport(options.memory);
  const waiters = new Map<string, Set<() => void>>();
  const statements = prepareStatements(db);
  const effects = new TxEffects(statements, (queues) => {
    for (const q of queues) {
      const set = waiters.get(q);
      if (set !== undefined) for (const wake of [...set]) wake();
    }
  });
  const commit = new GroupCommit(db, effects);
  let closed = false;
  let closing: Promise<void> | undefined;

  const ctx: QueueContext = {
    commit,
    effects,
    statements,
    codec,
    pollMs,
    isClosed: () => closed,
    onChange(queue, wake) {
      let set = waiters.get(queue);
      if (set === undefined) waiters.set(queue, (set = new Set()));
      set.add(wake);
      return () => {
        set.delete(wake);
        if (set.size === 0) waiters.delete(queue);
      };
    },
  };

  let blobs: BlobStore | undefined;
  let recordStatements: RecordStatements | undefined;
  const recordsCtx: RecordsContext = {
    commit,
    statements: () => (recordStatements ??= new RecordStatements(db)),
  };

  async function close(): Promise<void> {
    closed = true;
    // Writes already accepted are committed before the file is closed; receivers waiting for
    // messages return empty.
    commit.close();
    for (const set of [...waiters.values()]) for (const wake of [...set]) wake();
    db.close();
    await pubsub.close();
  }

  return {
    name: 'sqlite',
    maxMessageBytes: codec.maxFrameBytes,
    publish: (env) => pubsub.publish(env),
    subscribe: (pattern, handler, subOptions) => pubsub.subscribe(pattern, handler, subOptions),
    flush: () => pubsub.flush(),
    status: () => pubsub.status(),
    queue(name: string, queueOptions?: QueueOptions): DurableQueue {
      if (closed) throw new ClosedError('sqlite transport');
      return contractQueue(new SqliteQueue(name, resolveQueueOptions(name, queueOptions), ctx));
    },
    records(name: string, recordOptions?: RecordStoreOptions): RecordStore {
      if (closed) throw new ClosedError('sqlite transport');
      const store = new SqliteRecords(name, resolveRecordOptions(name, recordOptions), recordsCtx);
      return contractRecords(store, { isClosed: () => closed, what: 'sqlite transport' });
    },
    blobs(): BlobStore {
      if (closed) throw new ClosedError('sqlite transport');
      return (blobs ??= contractBlobs(new SqliteBlobs(db, commit), {
        isClosed: () => closed,
        what: 'sqlite transport',
      }));
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}
