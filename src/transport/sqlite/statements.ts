// Every SQL statement the queues run, prepared once per connection. Statements in ONE_COLUMN
// return their single column instead of a row object.
import type Database from 'better-sqlite3';
import type { Db } from './schema.js';

export type Statement = Database.Statement<unknown[], unknown>;

const M = 'llmwire_queue_messages';
const D = 'llmwire_queue_dead';
const META = 'seq, id, prio, key, state, available_at, lease_until, attempts, expires_at, error';
const DEAD = 'id, reason, attempts, error, dead_at, frame';
// A lease is identified by its row and attempt number (attempts only grow, and row numbers are
// never reused), and is held only while it has not ended.
const HELD = 'seq = ? AND state = 2 AND attempts = ? AND lease_until > ?';

const SQL = {
  insert: `INSERT INTO ${M} (queue, id, prio, key, state, available_at, expires_at, frame)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  keyInQueue: `SELECT 1 FROM ${M} WHERE queue = ? AND key = ? LIMIT 1`,
  depth: `SELECT depth FROM llmwire_queue_depth WHERE queue = ?`,
  depthAdd: `INSERT INTO llmwire_queue_depth (queue, depth) VALUES (?, ?)
             ON CONFLICT (queue) DO UPDATE SET depth = depth + excluded.depth`,
  dedupGet: `SELECT until, seq FROM llmwire_queue_dedup WHERE queue = ? AND id = ?`,
  dedupPut: `INSERT OR REPLACE INTO llmwire_queue_dedup (queue, id, until, seq, recheck)
             VALUES (?, ?, ?, ?, ?)`,
  isLive: `SELECT 1 FROM ${M} WHERE seq = ?`,
  // Rows past their window go unless their message is still live; the others are looked at
  // again later, so a long-lived backlog is not rescanned on every prune.
  dedupPrune: `DELETE FROM llmwire_queue_dedup WHERE recheck < @now AND until < @now
               AND NOT EXISTS (SELECT 1 FROM ${M} WHERE seq = llmwire_queue_dedup.seq)`,
  dedupDefer: `UPDATE llmwire_queue_dedup SET recheck = max(until, @later) WHERE recheck < @now`,

  // Picks and marks in one statement; RETURNING order is unspecified, so the caller sorts.
  lease: `UPDATE ${M} SET state = 2, lease_until = ?, attempts = attempts + 1
          WHERE seq IN (SELECT seq FROM ${M} WHERE queue = ? AND state = 0
                        ORDER BY prio DESC, seq LIMIT ?)
          RETURNING seq, prio, key, attempts, frame`,
  leasedRow: `SELECT ${META} FROM ${M} WHERE ${HELD}`,
  ack: `DELETE FROM ${M} WHERE ${HELD}`,
  extend: `UPDATE ${M} SET lease_until = ? WHERE ${HELD}`,
  requeue: `UPDATE ${M} SET state = ?, available_at = ?, error = COALESCE(?, error) WHERE seq = ?`,
  // The oldest message of a key goes next once the one before it has left the queue.
  unblock: `UPDATE ${M} SET state = CASE WHEN available_at > ? THEN 1 ELSE 0 END
            WHERE seq = (SELECT seq FROM ${M} WHERE queue = ? AND key = ? ORDER BY seq LIMIT 1)
              AND state = 3`,
  expiredLeases: `SELECT ${META} FROM ${M} WHERE queue = ? AND state = 2 AND lease_until <= ?`,
  expired: `SELECT ${META} FROM ${M} WHERE queue = ? AND expires_at <= ? AND state <> 2`,
  promote: `UPDATE ${M} SET state = 0 WHERE queue = ? AND state = 1 AND available_at <= ?`,
  nextDelayed: `SELECT min(available_at) FROM ${M} WHERE queue = ? AND state = 1`,
  nextLeaseEnd: `SELECT min(lease_until) FROM ${M} WHERE queue = ? AND state = 2`,
  // Literal states, so each count reads its partial index only.
  countReady: `SELECT count(*) FROM ${M} WHERE queue = ? AND state = 0`,
  countLeased: `SELECT count(*) FROM ${M} WHERE queue = ? AND state = 2`,

  kill: `INSERT OR REPLACE INTO ${D} (queue, id, reason, attempts, error, dead_at, frame)
         SELECT queue, id, ?, attempts, COALESCE(?, error), ?, frame FROM ${M} WHERE seq = ?`,
  remove: `DELETE FROM ${M} WHERE seq = ?`,
  deadCount: `SELECT count(*) FROM ${D} WHERE queue = ?`,
  deadList: `SELECT ${DEAD} FROM ${D} WHERE queue = ? ORDER BY seq LIMIT ?`,
  deadAll: `SELECT ${DEAD} FROM ${D} WHERE queue = ? ORDER BY seq`,
  deadOne: `SELECT ${DEAD} FROM ${D} WHERE queue = ? AND id = ?`,
  deadDelete: `DELETE FROM ${D} WHERE queue = ? AND id = ?`,
  deadPurge: `DELETE FROM ${D} WHERE queue = ?`,
};

type Name = keyof typeof SQL;

const ONE_COLUMN: ReadonlySet<Name> = new Set<Name>([
  'keyInQueue',
  'depth',
  'isLive',
  'nextDelayed',
  'nextLeaseEnd',
  'countReady',
  'countLeased',
  'deadCount',
]);

export type Statements = { readonly [K in Name]: Statement };

export function prepareStatements(db: Db): Statements {
  const out: Partial<Record<Name, Statement>> = {};
  for (const name of Object.keys(SQL) as Name[]) {
    const stmt = db.prepare(SQL[name]);
    out[name] = ONE_COLUMN.has(name) ? stmt.pluck() : stmt;
  }
  return out as Statements;
}
