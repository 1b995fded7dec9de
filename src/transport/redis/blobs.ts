// The blob store of the redis transport: each part one string key, and per blob name a hash of
// manifests, a sorted set of committed versions in commit order and a set of its uploads, all
// under the transport's prefix (docs/protocol.md, "Blob stores"). The keys of one blob name
// share a cluster hash tag, so each write is one MULTI or script on one slot; the names index
// is a sorted set of its own, for `list`. ACLs that grant `<prefix>b:*` grant the blobs.
import type { Redis } from 'ioredis';
import { MAX_BLOB_PART_BYTES } from '../../protocol/index.js';
import type { BlobListing, BlobStore } from '../blobs.js';
import { checkUploadKey } from '../blobs-contract.js';
import type { KeyLayout } from './keys.js';
import { redisFailure } from './queue-store.js';

/** Makes the version the newest: a per-name counter orders commits. */
const COMMIT = `
local n = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], n, ARGV[1])
return n`;

/** Keys removed per UNLINK when a blob goes. */
const UNLINK_BATCH = 256;

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The keys of one blob name (the braces are its cluster hash tag). */
class BlobKeys {
  readonly base: string;
  constructor(root: string, name: string) {
    this.base = `${root}{${name}}:`;
  }
  part(version: string, index: number): string {
    return `${this.base}p:${version}:${index}`;
  }
  /** Hash: part index -> sum, of one upload. */
  sums(version: string): string {
    return `${this.base}s:${version}`;
  }
  /** Hash: version -> manifest. */
  get manifests(): string {
    return `${this.base}m`;
  }
  /** Sorted set: committed versions, scored by commit order. */
  get versions(): string {
    return `${this.base}v`;
  }
  /** Set: versions with parts stored (committed or not). */
  get uploads(): string {
    return `${this.base}u`;
  }
  /** Counter of commits. */
  get counter(): string {
    return `${this.base}n`;
  }
}

export class RedisBlobs implements BlobStore {
  readonly kind = 'redis';
  readonly maxPartBytes = MAX_BLOB_PART_BYTES;
  readonly #root: string;
  /** Sorted set of committed blob names (all scored 0, so ordered by name). */
  readonly #names: string;

  constructor(
    private readonly cmd: Redis,
    layout: KeyLayout,
  ) {
    this.#root = layout.blobRoot();
    this.#names = `${this.#root}names`;
  }

  #keys(name: string): BlobKeys {
    return new BlobKeys(this.#root, name);
  }

  async #call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      // A MULTI with a refused command fails as EXECABORT; the refusal (NOPERM) is the cause.
      const first = (err as { previousErrors?: unknown[] } | null)?.previousErrors?.[0];
      throw redisFailure(first ?? err, 'blob store');
    }
  }

  putPart(upload: string, index: number, bytes: Uint8Array, sum: string): Promise<void> {
    const { name, version } = checkUploadKey(upload);
    const keys = this.#keys(name);
    return this.#call(async () => {
      const replies = await this.cmd
        .multi()
        .set(keys.part(version, index), asBuffer(bytes))
        .hset(keys.sums(version), String(index), sum)
        .sadd(keys.uploads, version)
        .exec();
      for (const [err] of replies ?? []) if (err) throw err;
    });
  }

  getPart(upload: string, index: number): Promise<Uint8Array | undefined> {
    const { name, version } = checkUploadKey(upload);
    return this.#call(
      async () => (await this.cmd.getBuffer(this.#keys(name).part(version, index))) ?? undefined,
    );
  }

  storedParts(upload: string): Promise<Map<number, string>> {
    const { name, version } = checkUploadKey(upload);
    return this.#call(async () => {
      const all = await this.cmd.hgetall(this.#keys(name).sums(version));
      return new Map(Object.entries(all).map(([index, sum]) => [Number(index), sum] as const));
    });
  }

  commit(name: string, version: string, manifest: Uint8Array): Promise<void> {
    const keys = this.#keys(name);
    return this.#call(async () => {
      await this.cmd.eval(
        COMMIT,
        3,
        keys.manifests,
        keys.versions,
        keys.counter,
        version,
        asBuffer(manifest),
      );
      await this.cmd.zadd(this.#names, 0, name);
    });
  }

  getManifest(name: string, version?: string): Promise<Uint8Array | undefined> {
    const keys = this.#keys(name);
    return this.#call(async () => {
      const v = version ?? (await this.cmd.zrange(keys.versions, '-1', '-1'))[0];
      if (v === undefined) return undefined;
      return (await this.cmd.hgetBuffer(keys.manifests, v)) ?? undefined;
    });
  }

  list(prefix = ''): Promise<BlobListing[]> {
    return this.#call(async () => {
      // '\xff' sorts after every character a blob name may hold.
      const names = await this.cmd.zrangebylex(this.#names, `[${prefix}`, `[${prefix}\xff`);
      const pipe = this.cmd.pipeline();
      for (const name of names) pipe.zrange(this.#keys(name).versions, '0', '-1');
      const replies = (await pipe.exec()) ?? [];
      const out: BlobListing[] = [];
      names.forEach((name, i) => {
        const [err, versions] = replies[i] ?? [null, []];
        if (err) throw err;
        // A name deleted between the two reads is left out.
        if ((versions as string[]).length > 0) out.push({ name, versions: versions as string[] });
      });
      return out;
    });
  }

  delete(name: string, version?: string): Promise<boolean> {
    const keys = this.#keys(name);
    return this.#call(async () => {
      const versions =
        version === undefined
          ? [
              ...new Set([
                ...(await this.cmd.smembers(keys.uploads)),
                ...(await this.cmd.zrange(keys.versions, '0', '-1')),
              ]),
            ]
          : [version];
      let removed = 0;
      for (const v of versions) {
        const indexes = await this.cmd.hkeys(keys.sums(v));
        const doomed = [...indexes.map((i) => keys.part(v, Number(i))), keys.sums(v)];
        for (let at = 0; at < doomed.length; at += UNLINK_BATCH) {
          removed += await this.cmd.unlink(...doomed.slice(at, at + UNLINK_BATCH));
        }
        removed += await this.cmd.hdel(keys.manifests, v);
        await this.cmd.multi().zrem(keys.versions, v).srem(keys.uploads, v).exec();
      }
      if ((await this.cmd.zcard(keys.versions)) === 0) {
        await this.cmd.zrem(this.#names, name);
        if (version === undefined) await this.cmd.unlink(keys.counter, keys.manifests);
      }
      return removed > 0;
    });
  }
}
