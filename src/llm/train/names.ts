// Where a training feed lives on the bus (docs/protocol.md, "Training feeds"): one durable queue
// per shard, one queue of shard tokens (the leases that give each shard to one trainer), one
// record per shard for its checkpoint, and one blob per batch sent by reference.
import { ConfigError } from '../../protocol/index.js';

/** Feed names: letters, digits, `_` and `-` (they become queue names and record keys). */
export const FEED_NAME_RE = /^[A-Za-z0-9_-]{1,48}$/;
/** Most shards a feed may have. */
export const MAX_FEED_SHARDS = 1024;
/** The record store holding every feed's checkpoints, unless a feed is given its own. */
export const FEED_RECORD_STORE = 'feeds';

export function checkFeedName(name: unknown): string {
  if (typeof name !== 'string' || !FEED_NAME_RE.test(name)) {
    throw new ConfigError(
      `feed name ${JSON.stringify(name)} is not valid: use 1 to 48 letters, digits, '_' or '-'`,
    );
  }
  return name;
}

/** The durable queue of shard `shard`: `feed-<name>-<shard>`. */
export function feedShardQueue(feed: string, shard: number): string {
  return `feed-${feed}-${shard}`;
}

/** The durable queue of the feed's shard tokens: `feed-<name>-shards`. */
export function feedTokenQueue(feed: string): string {
  return `feed-${feed}-shards`;
}

/** The message id of shard `shard`'s token (a second enqueue of it is a duplicate). */
export function feedTokenId(feed: string, shard: number): string {
  return `feed-${feed}-shard-${shard}`;
}

/** The record key of a shard's checkpoint: `<name>.<shard>`. */
export function feedCheckpointKey(feed: string, shard: number): string {
  return `${feed}.${shard}`;
}

/** The blob holding the examples of a batch sent by reference: `feeds/<name>/<shard>/<id>`. */
export function feedBlobName(feed: string, shard: number, id: string): string {
  return `feeds/${feed}/${shard}/${id}`;
}

/** The queue key every batch of a shard carries: one in flight at a time, in enqueue order. */
export function feedShardKey(shard: number): string {
  return `shard-${shard}`;
}

/**
 * The shard of a key: FNV-1a (32-bit) of its UTF-8 bytes, modulo the shard count. Written down
 * in docs/protocol.md so that producers in other languages place batches alike.
 */
export function shardOfKey(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}
