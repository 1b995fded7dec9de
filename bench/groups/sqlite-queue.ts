// The sqlite-queue group: a durable queue on the sqlite transport driven as a real pipeline
// drives it (producers enqueue without waiting on each other, a consumer receives batches and
// acks), against raw better-sqlite3 doing the least equivalent work on the same kind of file.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelope, createId } from '../../src/protocol/index.js';
import { openDatabase } from '../../src/transport/sqlite/schema.js';
import { prepareStatements } from '../../src/transport/sqlite/statements.js';
import type { DurableQueue, Transport } from '../../src/transport/transport.js';
import { textBody } from '../fixtures.js';
import type { BenchGroup, GroupContext } from '../group.js';
import type { Work } from '../harness.js';

const BODY_BYTES = 256;
const RECEIVE_MAX = 256;
/** Enqueues a producer keeps outstanding before it waits for them to be durable. */
const PRODUCER_WINDOW = 1024;
const PRODUCERS = 4;
const SQLITE_ENTRY = '../../src/transport/sqlite/index.js';

type CreateSqliteTransport = (options: { path: string }) => Transport;

/** The transport's factory, or why it cannot be had (not written yet, or does not load). */
async function loadTransport(): Promise<CreateSqliteTransport | string> {
  try {
    // A computed specifier keeps this file compiling while the adapter does not exist.
    const specifier = SQLITE_ENTRY;
    const mod = (await import(specifier)) as { createSqliteTransport?: unknown };
    if (typeof mod.createSqliteTransport !== 'function') {
      return 'src/transport/sqlite does not export createSqliteTransport';
    }
    return mod.createSqliteTransport as CreateSqliteTransport;
  } catch (err) {
    return `src/transport/sqlite could not be loaded: ${(err as Error).message.split('\n')[0]}`;
  }
}

const bodies = Array.from({ length: 64 }, (_, i) => textBody(BODY_BYTES, i));

function queueWork(queue: DurableQueue): Work {
  return async (n) => {
    let made = 0;
    const produce = async () => {
      let window: Promise<unknown>[] = [];
      while (made < n) {
        const i = made++;
        const env = createEnvelope({ kind: 'event', subject: queue.name, body: bodies[i & 63] });
        window.push(queue.enqueue(env));
        if (window.length >= PRODUCER_WINDOW / PRODUCERS) {
          await Promise.all(window);
          window = [];
        }
      }
      await Promise.all(window);
    };
    const consumeAll = async () => {
      let acked = 0;
      let acks: Promise<void>[] = [];
      while (acked < n) {
        const batch = await queue.receive({ max: RECEIVE_MAX, waitMs: 5000 });
        if (batch.length === 0) throw new Error(`queue went quiet after ${acked} of ${n}`);
        // A consumer acks each message as it finishes and does not hold the next batch back
        // for the acks to be durable; it waits only so acks cannot pile up without bound.
        for (const d of batch) acks.push(d.ack());
        acked += batch.length;
        if (acks.length >= PRODUCER_WINDOW) {
          await Promise.all(acks);
          acks = [];
        }
      }
      await Promise.all(acks);
    };
    await Promise.all([...Array.from({ length: PRODUCERS }, produce), consumeAll()]);
  };
}

/**
 * Synchronous work of the raw sides: enqueues in transactions of PRODUCER_WINDOW, each followed
 * by takes in transactions of up to RECEIVE_MAX until all made so far are taken.
 */
function batches(
  enqueueBatch: (count: number, from: number) => void,
  takeBatch: (max: number) => number,
): Work {
  return (n) => {
    let made = 0;
    let taken = 0;
    while (taken < n) {
      if (made < n) {
        const count = Math.min(PRODUCER_WINDOW, n - made);
        enqueueBatch(count, made);
        made += count;
      }
      while (taken < made) taken += takeBatch(RECEIVE_MAX);
    }
  };
}

/** The least a SQLite-backed queue must do: insert each message, select a batch, delete it. */
function rawSqlite(path: string): { work: Work; close: () => void } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE q (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO q (id, body) VALUES (?, ?)');
  const select = db.prepare('SELECT seq, id, body FROM q ORDER BY seq LIMIT ?');
  const remove = db.prepare('DELETE FROM q WHERE seq = ?');
  const frames = bodies.map((b) => Buffer.from(JSON.stringify(b)));
  // Same batch sizes as the queue run: one transaction per producer window and per receive.
  const enqueueBatch = db.transaction((count: number, from: number) => {
    for (let i = 0; i < count; i++) insert.run(createId(), frames[(from + i) & 63]);
  });
  const takeBatch = db.transaction((max: number) => {
    const rows = select.all(max) as { seq: number; id: string; body: Buffer }[];
    for (const row of rows) remove.run(row.seq);
    return rows.length;
  });
  return { work: batches(enqueueBatch, takeBatch), close: () => db.close() };
}

/**
 * The queue's own SQL with nothing around it: the transport's schema and prepared statements,
 * run in transactions of the same sizes, per message the dedup lookup, the insert and the dedup
 * row; per batch the lease UPDATE ... RETURNING; per message the ack DELETE. The frames are made
 * once, so no envelope, codec, promise or delivery object is in it: the floor the durable queue
 * on this schema cannot go below.
 */
function queueSql(path: string): { work: Work; close: () => void } {
  const db = openDatabase({ path, busyTimeoutMs: 5000 });
  const st = prepareStatements(db);
  const frames = bodies.map((b) =>
    Buffer.from(JSON.stringify(createEnvelope({ kind: 'event', subject: 'floor', body: b }))),
  );
  const enqueueBatch = db.transaction((count: number, from: number) => {
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const id = createId();
      st.dedupGet.get('floor', id);
      const { lastInsertRowid } = st.insert.run(
        'floor',
        id,
        5,
        null,
        0,
        now,
        null,
        frames[(from + i) & 63],
      );
      st.dedupPut.run('floor', id, now + 60_000, lastInsertRowid, now + 60_000);
    }
  });
  const takeBatch = db.transaction((max: number) => {
    const now = Date.now();
    const rows = st.lease.all(now + 30_000, 'floor', max) as { seq: number; attempts: number }[];
    for (const row of rows) st.ack.run(row.seq, row.attempts, now);
    return rows.length;
  });
  return { work: batches(enqueueBatch, takeBatch), close: () => db.close() };
}

async function measure(ctx: GroupContext, create: CreateSqliteTransport, dir: string) {
  const transport = create({ path: join(dir, 'queue.db') });
  const raw = rawSqlite(join(dir, 'raw.db'));
  const floor = queueSql(join(dir, 'floor.db'));
  try {
    const queue = transport.queue('bench-jobs');
    await ctx.rate({
      name: `enqueue+receive+ack, ${BODY_BYTES}-byte bodies (durable queue)`,
      unit: 'msgs/s',
      subject: queueWork(queue),
      baselineName: 'raw better-sqlite3 insert, select+delete',
      baseline: raw.work,
      minN: RECEIVE_MAX,
      // A batch starts with an empty queue and a consumer waiting for the first commit;
      // longer batches keep that start-up from weighing on the figure.
      roundScale: 4,
      target: { on: 'value', min: 50_000 },
    });
    await ctx.rate({
      name: `enqueue+receive+ack, ${BODY_BYTES}-byte bodies (durable queue)`,
      unit: 'msgs/s',
      subject: queueWork(queue),
      baselineName: "the queue's own SQL statements alone, same schema and batch sizes",
      baseline: floor.work,
      minN: RECEIVE_MAX,
      roundScale: 4,
    });
    const left = await queue.stats();
    if (left.ready + left.leased + left.delayed !== 0) {
      throw new Error(`queue not drained after the run: ${JSON.stringify(left)}`);
    }
  } finally {
    raw.close();
    floor.close();
    await transport.close();
  }
}

export const sqliteQueueGroup: BenchGroup = {
  name: 'sqlite-queue',
  about:
    `Durable queue of the sqlite transport on a temporary file (WAL, synchronous=NORMAL). ` +
    `${PRODUCERS} producers each keep ${PRODUCER_WINDOW / PRODUCERS} enqueues outstanding ` +
    `(${BODY_BYTES}-byte JSON bodies, fresh envelope per message); one consumer receives up to ` +
    `${RECEIVE_MAX} per call and acks each delivery without holding back the next receive. ` +
    'Baseline: raw better-sqlite3 on its own file with the same pragmas, inserting the same ' +
    `bodies in transactions of ${PRODUCER_WINDOW} and taking them back with SELECT + DELETE in ` +
    `transactions of ${RECEIVE_MAX}. Second baseline: the queue's own SQL alone (the transport's ` +
    'schema and prepared statements, the same transaction sizes, frames made once): per message ' +
    'a dedup lookup, the insert and its dedup row, the lease UPDATE ... RETURNING per batch and ' +
    'the ack DELETE. That floor is why the 50k msgs/s target is missed: on this 2-core machine ' +
    'the SQL alone ran at 40k-70k msgs/s (14-25 µs per message, depending on load), and a ' +
    'statement-level profile of the queue (every better-sqlite3 call timed) put about 20 µs of ' +
    'its 28-33 µs CPU per message in SQLite and the rest in envelopes, JSON, promises and ' +
    'delivery objects. 50k msgs/s (20 µs) needs both the SQL (four indexed writes per message: insert, ' +
    'dedup row, lease, ack) and the code around it each cut by about a third. Rounds are four ' +
    'times the usual length.',
  async run(ctx) {
    const create = await loadTransport();
    if (typeof create === 'string') {
      ctx.log(`skipped: ${create}`);
      return { skipped: create };
    }
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-'));
    try {
      await measure(ctx, create, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return { rows: ctx.rows };
  },
};
