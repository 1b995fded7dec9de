// What a group-commit transaction changes besides rows: queue depths, kept as counters written
// once per transaction (a trigger per row costs more than the row), and the queues whose waiting
// receivers should look again once the transaction is committed.
import type { Statements } from './statements.js';

/** Called by the group commit around each transaction. */
export interface TransactionHooks {
  /** Inside the transaction, after its operations: last writes before COMMIT. */
  beforeCommit(): void;
  afterCommit(): void;
  afterRollback(): void;
}

export class TxEffects implements TransactionHooks {
  private touched = new Set<string>();
  private readonly deltas = new Map<string, number>();

  constructor(
    private readonly st: Statements,
    private readonly wake: (queues: Set<string>) => void,
  ) {}

  /** Marks a queue whose waiting receivers should look again after the commit. */
  touch(queue: string): void {
    this.touched.add(queue);
  }

  addDepth(queue: string, n: number): void {
    if (n !== 0) this.deltas.set(queue, (this.deltas.get(queue) ?? 0) + n);
  }

  /** Messages held by a queue as seen inside the running transaction. */
  depth(queue: string): number {
    const stored = (this.st.depth.get(queue) as number | undefined) ?? 0;
    return stored + (this.deltas.get(queue) ?? 0);
  }

  beforeCommit(): void {
    for (const [queue, n] of this.deltas) this.st.depthAdd.run(queue, n);
    this.deltas.clear();
  }

  afterCommit(): void {
    if (this.touched.size === 0) return;
    const queues = this.touched;
    this.touched = new Set();
    this.wake(queues);
  }

  afterRollback(): void {
    this.touched.clear();
    this.deltas.clear();
  }
}
