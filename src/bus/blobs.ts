// `bus.blobs`: payloads of any size as checksummed parts and a manifest on the bus's blob store
// (docs/protocol.md, "Blobs"; docs/dataplane.md). Writing cuts the source into parts, hashes
// each and the whole, and skips parts the store already holds for the same name and version,
// so a put interrupted half way resumes from where it stopped. Reading verifies every part
// against the manifest and the whole at the end. Memory stays bounded by the part size times
// the parts in flight, whatever the blob's size.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import { sha256Base64Url } from '../codec/integrity.js';
import {
  blobPartCount,
  blobPartSize,
  checkBlobName,
  checkBlobVersion,
  decodeManifest,
  encodeManifest,
  DEFAULT_BLOB_PART_BYTES,
  MAX_BLOB_PART_BYTES,
  MAX_BLOB_PARTS,
  MIN_BLOB_PART_BYTES,
  type BlobManifest,
} from '../protocol/blob.js';
import {
  CancelledError,
  ChunkCorruptError,
  ChunkMissingError,
  ConfigError,
  createId,
  NotFoundError,
  optionsCheck,
  PayloadTooLargeError,
} from '../protocol/index.js';
import { uploadKey, type BlobListing, type BlobStore } from '../transport/blobs.js';

export type BlobSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Where a put or a get has got to, after each part. */
export interface BlobProgress {
  readonly name: string;
  readonly version: string;
  /** Index of the part just handled. */
  readonly part: number;
  /** Parts in the blob; undefined while a put of a stream does not know yet. */
  readonly total: number | undefined;
  /** Bytes handled so far (in part order for a get; written or skipped for a put). */
  readonly bytes: number;
  /** Size of the blob; undefined while a put of a stream does not know yet. */
  readonly size: number | undefined;
  /** True when the part moved; false when it was already there (a resumed put or download). */
  readonly moved: boolean;
}

export interface BlobPutOptions {
  /**
   * The version to write. Default: for `putFile`, derived from the file's SHA-256 (so putting
   * the same file again resumes or does nothing); otherwise a new time-ordered id.
   */
  version?: string;
  /** Default `application/octet-stream`. */
  contentType?: string;
  /** Free metadata kept in the manifest (at most 64 entries). */
  meta?: Record<string, string>;
  /** Bytes per part, 64 KiB to 64 MiB and at most the store's limit. Default 4 MiB. */
  partBytes?: number;
  /** Parts written at once. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: BlobProgress) => void;
}

export interface BlobGetOptions {
  /** Default: the newest version. */
  version?: string;
  /** Parts fetched ahead of the one being read. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: BlobProgress) => void;
}

/** What `getFile` did: the parts it fetched and the parts it found already in the file. */
export interface BlobDownload {
  readonly manifest: BlobManifest;
  readonly fetched: number;
  readonly reused: number;
}

/** A blob being read: its manifest, and its bytes part by part, each verified. */
export interface BlobReader extends AsyncIterable<Uint8Array> {
  readonly manifest: BlobManifest;
}

/** A listed blob: its versions and the manifest of the newest. */
export interface BlobEntry extends BlobListing {
  readonly latest: BlobManifest;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const DEFAULT_CONCURRENCY = 4;

const checkPut = optionsCheck(
  'blob put',
  Type.Object(
    {
      version: Type.Optional(Type.String()),
      contentType: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      meta: Type.Optional(
        Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 4096 }), {
          maxProperties: 64,
        }),
      ),
      partBytes: Type.Optional(
        Type.Integer({ minimum: MIN_BLOB_PART_BYTES, maximum: MAX_BLOB_PART_BYTES }),
      ),
      concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
      signal: Type.Optional(Type.Object({})),
      onProgress: Type.Optional(Type.Function([Type.Unknown()], Type.Unknown())),
    },
    { additionalProperties: false },
  ),
);

const checkGet = optionsCheck(
  'blob get',
  Type.Object(
    {
      version: Type.Optional(Type.String()),
      concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
      signal: Type.Optional(Type.Object({})),
      onProgress: Type.Optional(Type.Function([Type.Unknown()], Type.Unknown())),
    },
    { additionalProperties: false },
  ),
);

/** Runs async tasks at most `limit` at once; `drain` waits for all and rethrows the first error. */
class Inflight {
  readonly #running = new Set<Promise<void>>();
  #error: unknown;
  #failed = false;

  constructor(private readonly limit: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.limit) await Promise.race(this.#running);
    this.#rethrow();
    const p: Promise<void> = task().then(
      () => {
        this.#running.delete(p);
      },
      (err: unknown) => {
        this.#running.delete(p);
        if (!this.#failed) [this.#failed, this.#error] = [true, err];
      },
    );
    this.#running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.#running);
    this.#rethrow();
  }

  #rethrow(): void {
    if (this.#failed) throw this.#error;
  }
}

function aborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw new CancelledError(`${what} was cancelled`);
}

function notFound(name: string, version: string | undefined): Error {
  return new NotFoundError(
    version === undefined
      ? `blob '${name}' not found`
      : `blob '${name}' version '${version}' not found`,
    { details: { name, ...(version === undefined ? {} : { version }) } },
  );
}

/** Cuts a stream of byte chunks into parts of exactly `partBytes` (the last holds the rest). */
async function* toParts(source: BlobSource, partBytes: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let at = 0; at < source.byteLength; at += partBytes) {
      yield source.subarray(at, Math.min(at + partBytes, source.byteLength));
    }
    return;
  }
  let part = Buffer.allocUnsafe(partBytes);
  let filled = 0;
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    if (!(chunk instanceof Uint8Array)) {
      throw new ConfigError('a blob source yields bytes (Uint8Array or Buffer) only');
    }
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(partBytes - filled, chunk.byteLength - at);
      part.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === partBytes) {
        yield part;
        part = Buffer.allocUnsafe(partBytes);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

function partSum(bytes: Uint8Array): string {
  return 'sha256:' + sha256Base64Url(bytes);
}

/** The blob API of a bus: put, read, download, stat, list and delete on one blob store. */
export class Blobs {
  readonly #store: () => BlobStore;

  /** `store` is called on first use, so a bus without a store fails only when blobs are used. */
  constructor(store: () => BlobStore) {
    this.#store = store;
  }

  /** The store underneath (its kind and part limit). */
  get store(): BlobStore {
    return this.#store();
  }

  /**
   * Writes a blob from bytes or a stream of byte chunks and commits it; resolves with its
   * manifest once every part and the manifest are durable. Parts already stored under the same
   * name and version with the same sum are not written again.
   */
  async put(name: string, source: BlobSource, options: BlobPutOptions = {}): Promise<BlobManifest> {
    checkBlobName(name);
    checkPut(options);
    const version = checkBlobVersion(options.version ?? createId());
    const store = this.#store();
    const partBytes = options.partBytes ?? Math.min(DEFAULT_BLOB_PART_BYTES, store.maxPartBytes);
    if (partBytes > store.maxPartBytes) {
      throw new ConfigError(
        `blob partBytes ${partBytes} is more than the ${store.kind} store takes (${store.maxPartBytes})`,
      );
    }
    const upload = uploadKey(name, version);
    const stored = await store.storedParts(upload);
    const whole = createHash('sha256');
    const sums: string[] = [];
    const inflight = new Inflight(options.concurrency ?? DEFAULT_CONCURRENCY);
    const knownSize = source instanceof Uint8Array ? source.byteLength : undefined;
    const total = knownSize === undefined ? undefined : blobPartCount(knownSize, partBytes);
    let bytes = 0;
    for await (const part of toParts(source, partBytes)) {
      aborted(options.signal, `blob put of '${name}'`);
      const index = sums.length;
      if (index >= MAX_BLOB_PARTS) {
        throw new PayloadTooLargeError(
          `blob '${name}' has more than ${MAX_BLOB_PARTS} parts of ${partBytes} bytes: use larger parts`,
        );
      }
      whole.update(part);
      const sum = partSum(part);
      sums.push(sum);
      bytes += part.byteLength;
      const moved = stored.get(index) !== sum;
      const progress: BlobProgress = {
        name,
        version,
        part: index,
        total,
        bytes,
        size: knownSize,
        moved,
      };
      if (!moved) {
        options.onProgress?.(progress);
        continue;
      }
      await inflight.add(async () => {
        await store.putPart(upload, index, part, sum);
        options.onProgress?.(progress);
      });
    }
    await inflight.drain();
    aborted(options.signal, `blob put of '${name}'`);
    const manifest: BlobManifest = {
      blob: 1,
      name,
      version,
      size: bytes,
      sum: 'sha256:' + whole.digest('base64url'),
      partBytes,
      parts: sums,
      contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
      createdAt: Date.now(),
      ...(options.meta === undefined ? {} : { meta: options.meta }),
    };
    await store.commit(name, version, encodeManifest(manifest));
    return manifest;
  }

  /**
   * Writes a file as a blob. With no version given, the version is derived from the file's
   * SHA-256, so running the same put again after an interruption writes only the missing parts.
   */
  async putFile(name: string, path: string, options: BlobPutOptions = {}): Promise<BlobManifest> {
    checkBlobName(name);
    checkPut(options);
    let version = options.version;
    if (version === undefined) {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
      }
      version = 's' + hash.digest('base64url').slice(0, 22).replace(/_/g, '.');
    }
    const partBytes =
      options.partBytes ?? Math.min(DEFAULT_BLOB_PART_BYTES, this.#store().maxPartBytes);
    const stream = createReadStream(path, { highWaterMark: Math.min(partBytes, 4 << 20) });
    try {
      return await this.put(name, stream as AsyncIterable<Uint8Array>, {
        ...options,
        version,
        partBytes,
      });
    } finally {
      stream.destroy();
    }
  }

  /** The manifest of a blob (the newest version unless one is named); `not_found` when absent. */
  async stat(name: string, options: { version?: string } = {}): Promise<BlobManifest> {
    checkBlobName(name);
    if (options.version !== undefined) checkBlobVersion(options.version);
    const bytes = await this.#store().getManifest(name, options.version);
    if (bytes === undefined) throw notFound(name, options.version);
    return decodeManifest(bytes);
  }

  /** The committed blobs whose name starts with `prefix`, each with its newest manifest. */
  async list(prefix = ''): Promise<BlobEntry[]> {
    if (typeof prefix !== 'string') throw new ConfigError('a blob list prefix is a string');
    const store = this.#store();
    const out: BlobEntry[] = [];
    for (const listing of await store.list(prefix)) {
      const bytes = await store.getManifest(listing.name);
      // A blob deleted between the listing and this read is left out.
      if (bytes !== undefined) out.push({ ...listing, latest: decodeManifest(bytes) });
    }
    return out;
  }

  /** Deletes one version, or the whole blob; true when something was removed. */
  delete(name: string, options: { version?: string } = {}): Promise<boolean> {
    checkBlobName(name);
    if (options.version !== undefined) checkBlobVersion(options.version);
    return this.#store().delete(name, options.version);
  }

  /**
   * Opens a blob for reading: resolves with its manifest once found, then yields its bytes
   * part by part, each checked against its sum and the whole against the blob's sum at the end
   * (`chunk_corrupt`; a part missing from the store is `chunk_missing`).
   */
  async open(name: string, options: BlobGetOptions = {}): Promise<BlobReader> {
    checkGet(options);
    const manifest = await this.stat(
      name,
      options.version === undefined ? {} : { version: options.version },
    );
    const parts = this.#parts(manifest, options, () => true);
    return {
      manifest,
      async *[Symbol.asyncIterator]() {
        const whole = createHash('sha256');
        for await (const [, bytes] of parts) {
          if (bytes === undefined) continue;
          whole.update(bytes);
          yield bytes;
        }
        if ('sha256:' + whole.digest('base64url') !== manifest.sum) {
          throw new ChunkCorruptError(
            `blob '${manifest.name}@${manifest.version}' does not match its sum`,
          );
        }
      },
    };
  }

  /** Reads a whole blob into memory: for small blobs (`maxBytes`, default 64 MiB). */
  async get(
    name: string,
    options: BlobGetOptions & { maxBytes?: number } = {},
  ): Promise<Uint8Array> {
    const { maxBytes = 64 * 1024 * 1024, ...rest } = options;
    const reader = await this.open(name, rest);
    if (reader.manifest.size > maxBytes) {
      throw new PayloadTooLargeError(
        `blob '${name}' is ${reader.manifest.size} bytes, more than maxBytes ${maxBytes}: read it with open() or getFile()`,
      );
    }
    const out = Buffer.allocUnsafe(reader.manifest.size);
    let at = 0;
    for await (const part of reader) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  /**
   * Downloads a blob to a file, resumably: parts go into `<path>.part` as they arrive, and a
   * download started again (after a crash, in another process) keeps every part already in
   * that file whose bytes match their sum and fetches only the others. The file appears at
   * `path` once every part is in and the whole matches the blob's sum.
   */
  async getFile(name: string, path: string, options: BlobGetOptions = {}): Promise<BlobDownload> {
    checkGet(options);
    const manifest = await this.stat(
      name,
      options.version === undefined ? {} : { version: options.version },
    );
    const partial = `${path}.part`;
    const marker = `${path}.part.json`;
    const ident = JSON.stringify({
      name: manifest.name,
      version: manifest.version,
      sum: manifest.sum,
    });
    const previous = await readFile(marker, 'utf8').catch(() => undefined);
    if (previous !== ident) {
      await rm(partial, { force: true });
      await writeFile(marker, ident);
    }
    const file = await open(partial, 'a+').then(async (f) => {
      await f.close();
      return open(partial, 'r+');
    });
    let fetched = 0;
    let reused = 0;
    try {
      const held = (await file.stat()).size;
      // Parts already in the file and matching their sums are kept, the rest fetched.
      const have = async (index: number): Promise<Uint8Array | undefined> => {
        const at = index * manifest.partBytes;
        const size = blobPartSize(manifest, index);
        if (at + size > held) return undefined;
        const buf = Buffer.allocUnsafe(size);
        await file.read(buf, 0, size, at);
        return partSum(buf) === manifest.parts[index] ? buf : undefined;
      };
      const whole = createHash('sha256');
      const present = new Map<number, Uint8Array>();
      const parts = this.#parts(manifest, options, async (index) => {
        const bytes = await have(index);
        if (bytes === undefined) return true;
        present.set(index, bytes);
        return false;
      });
      for await (const [index, bytes] of parts) {
        if (bytes === undefined) {
          whole.update(present.get(index) ?? new Uint8Array());
          present.delete(index);
          reused += 1;
          continue;
        }
        await file.write(bytes, 0, bytes.byteLength, index * manifest.partBytes);
        whole.update(bytes);
        fetched += 1;
      }
      if ('sha256:' + whole.digest('base64url') !== manifest.sum) {
        throw new ChunkCorruptError(
          `blob '${manifest.name}@${manifest.version}' does not match its sum`,
        );
      }
      await file.truncate(manifest.size);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(partial, path);
    await rm(marker, { force: true });
    return { manifest, fetched, reused };
  }

  /**
   * The parts of a blob in order, fetched `concurrency` ahead and verified: [index, bytes], or
   * [index, undefined] for a part `want` declined (already held by the caller).
   */
  async *#parts(
    manifest: BlobManifest,
    options: BlobGetOptions,
    want: (index: number) => boolean | Promise<boolean>,
  ): AsyncGenerator<readonly [number, Uint8Array | undefined]> {
    const store = this.#store();
    const upload = uploadKey(manifest.name, manifest.version);
    const total = manifest.parts.length;
    const ahead = options.concurrency ?? DEFAULT_CONCURRENCY;
    const fetchPart = async (index: number): Promise<Uint8Array | undefined> => {
      if (!(await want(index))) return undefined;
      const bytes = await store.getPart(upload, index);
      if (bytes === undefined) {
        throw new ChunkMissingError(
          `part ${index} of blob '${manifest.name}@${manifest.version}' is not in the ${store.kind} store`,
          { details: { name: manifest.name, version: manifest.version, missing: [index] } },
        );
      }
      if (
        bytes.byteLength !== blobPartSize(manifest, index) ||
        partSum(bytes) !== manifest.parts[index]
      ) {
        throw new ChunkCorruptError(
          `part ${index} of blob '${manifest.name}@${manifest.version}' does not match its sum`,
          { details: { name: manifest.name, version: manifest.version, index } },
        );
      }
      return bytes;
    };
    const queue: Promise<Uint8Array | undefined>[] = [];
    let next = 0;
    let bytes = 0;
    try {
      for (let index = 0; index < total; index++) {
        while (next < total && queue.length < ahead) {
          const p = fetchPart(next++);
          p.catch(() => undefined); // awaited below; kept from being reported as unhandled
          queue.push(p);
        }
        aborted(options.signal, `blob get of '${manifest.name}'`);
        const part = await queue.shift();
        bytes += blobPartSize(manifest, index);
        options.onProgress?.({
          name: manifest.name,
          version: manifest.version,
          part: index,
          total,
          bytes,
          size: manifest.size,
          moved: part !== undefined,
        });
        yield [index, part] as const;
      }
    } finally {
      await Promise.allSettled(queue);
    }
  }
}
