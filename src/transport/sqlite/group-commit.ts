// Group commit: every queue operation issued in one turn of the event loop runs in a single
// SQLite transaction, and each caller's promise settles only after that COMMIT, so one fsync-free
// WAL append carries thousands of enqueues, leases and acks.
import {
  ClosedError,
  InternalError,
  LocalError,
  UnavailableError,
  WireError,
} from '../../protocol/index.js';
import type { TransactionHooks } from './effects.js';
import type { Db } from './schema.js';

interface Op {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Operations must throw only typed errors (WireError, LocalError) and only before they write;
 * such an error fails that operation alone. Anything else (a SQLite error) rolls the whole batch
 * back, and each operation is then retried in its own transaction so one cannot sink the others.
 */
export class GroupCommit {
  private pending: Op[] = [];
  private scheduled = false;
  private closed = false;
  private readonly batchTx: (ops: Op[]) => Outcome[];
  private readonly singleTx: (op: Op) => unknown;

  constructor(
    db: Db,
    private readonly hooks: TransactionHooks,
  ) {
    const batch = db.transaction((ops: Op[]) => {
      const outcomes = ops.map((op) => attempt(op));
      hooks.beforeCommit();
      return outcomes;
    });
    const single = db.transaction((op: Op) => {
      const value = op.run();
      hooks.beforeCommit();
      return value;
    });
    this.batchTx = (ops) => batch.immediate(ops);
    this.singleTx = (op) => single.immediate(op);
  }

  run<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('sqlite queue store'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs everything pending now. Synchronous: better-sqlite3 blocks until COMMIT. */
  flush(): void {
    this.scheduled = false;
    const ops = this.pending;
    if (ops.length === 0) return;
    this.pending = [];
    let outcomes: Outcome[];
    try {
      outcomes = this.batchTx(ops);
    } catch (err) {
      this.hooks.afterRollback();
      this.retryOneByOne(ops, err);
      return;
    }
    this.settle(ops, outcomes);
  }

  private retryOneByOne(ops: Op[], batchError: unknown): void {
    if (ops.length === 1) {
      ops[0]!.reject(storeError(batchError));
      return;
    }
    for (const op of ops) {
      try {
        const value = this.singleTx(op);
        this.hooks.afterCommit();
        op.resolve(value);
      } catch (err) {
        this.hooks.afterRollback();
        op.reject(isTyped(err) ? err : storeError(err));
      }
    }
  }

  private settle(ops: Op[], outcomes: Outcome[]): void {
    this.hooks.afterCommit();
    for (let i = 0; i < ops.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) ops[i]!.resolve(outcome.value);
      else ops[i]!.reject(outcome.error);
    }
  }

  /** Commits what is pending and refuses anything after. */
  close(): void {
    this.flush();
    this.closed = true;
  }
}

function attempt(op: Op): Outcome {
  try {
    return { ok: true, value: op.run() };
  } catch (error) {
    if (isTyped(error)) return { ok: false, error };
    throw error;
  }
}

function isTyped(err: unknown): boolean {
  return err instanceof WireError || err instanceof LocalError;
}

/** A storage failure as a typed error: busy/locked files may clear up, anything else is ours. */
export function storeError(err: unknown): Error {
  if (isTyped(err)) return err as Error;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new UnavailableError('sqlite queue file is locked by another writer', { cause: err });
  }
  return new InternalError('sqlite queue store failed', { cause: err });
}
