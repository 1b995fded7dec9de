// The simulator's model of a prefix (KV) cache: an LRU of chained prompt-block hashes. A
// request's longest run of cached leading blocks costs no prefill time.

export class PrefixCache {
  /** Insertion order is recency order: the first key is the least recently used. */
  private readonly blocks = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  /** How many leading blocks of `hashes` are cached. */
  cachedBlocks(hashes: readonly string[]): number {
    let n = 0;
    while (n < hashes.length && this.blocks.has(hashes[n] ?? '')) n++;
    return n;
  }

  /** Marks the blocks as just used, evicting the least recently used beyond capacity. */
  add(hashes: readonly string[]): void {
    if (this.capacity === 0) return;
    // Deepest block first, so the first block is the most recent: eviction then takes the
    // tails of prompts before their heads, and a cached chain never loses its first link
    // while keeping later ones (vLLM frees blocks in reverse order for the same reason).
    for (let i = hashes.length - 1; i >= 0; i--) {
      const hash = hashes[i] ?? '';
      this.blocks.delete(hash);
      this.blocks.set(hash, true);
    }
    for (const oldest of this.blocks.keys()) {
      if (this.blocks.size <= this.capacity) break;
      this.blocks.delete(oldest);
    }
  }

  /** Cached block hashes, most recently used first. */
  hashes(): string[] {
    return [...this.blocks.keys()].reverse();
  }
}
