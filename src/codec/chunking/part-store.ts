// Where a receiver keeps the parts of unfinished chunked transfers. In memory by default; a
// durable store (a SQLite table, files) lets a transfer resume after the receiver restarts.

/**
 * Parts of unfinished transfers, keyed by transfer id and part index. Synchronous on purpose:
 * the assembler verifies and stores a part in one step, and the durable stores llmwire ships
 * (better-sqlite3) are synchronous too.
 */
export interface PartStore {
  /** Keeps a verified part. Called once per index; the store may keep the bytes as given. */
  put(transfer: string, index: number, part: Uint8Array): void;
  get(transfer: string, index: number): Uint8Array | undefined;
  /** Indices held for a transfer, in any order: how a restarted receiver learns what it has. */
  indices(transfer: string): Iterable<number>;
  /** Forgets a transfer and all its parts. */
  delete(transfer: string): void;
}

/** The default store: a map per transfer. Lost when the process exits. */
export class MemoryPartStore implements PartStore {
  private readonly transfers = new Map<string, Map<number, Uint8Array>>();

  put(transfer: string, index: number, part: Uint8Array): void {
    let parts = this.transfers.get(transfer);
    if (parts === undefined) {
      parts = new Map();
      this.transfers.set(transfer, parts);
    }
    // A copy: the part may be a view into a larger frame buffer or into the sender's object,
    // which must neither be kept alive nor change under us.
    parts.set(index, new Uint8Array(part));
  }

  get(transfer: string, index: number): Uint8Array | undefined {
    return this.transfers.get(transfer)?.get(index);
  }

  indices(transfer: string): Iterable<number> {
    return this.transfers.get(transfer)?.keys() ?? [];
  }

  delete(transfer: string): void {
    this.transfers.delete(transfer);
  }

  /** Number of transfers with parts held. */
  get size(): number {
    return this.transfers.size;
  }
}
