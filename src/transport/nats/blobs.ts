// The blob store of the NATS transport: one JetStream Object Store bucket per stream prefix,
// `<prefix>_BLOBS` (stream `OBJ_<prefix>_BLOBS`), holding one object per part, one per committed
// manifest and one naming each blob's newest version (docs/protocol.md, "Blob stores"). The
// object store cuts each part into messages of up to the server's max_payload and checks its
// own digest on reading; several parts travel at once (bus.blobs keeps `concurrency` puts and
// gets in flight), each on its own publish/ack or consumer pipeline.
import { jetstream, StorageType } from '@nats-io/jetstream';
import type { ObjectInfo, ObjectStore } from '@nats-io/obj';
import { PermissionViolationError } from '@nats-io/transport-node';
import { ForbiddenError, MAX_BLOB_PART_BYTES, MissingPackageError } from '../../protocol/index.js';
import type { BlobListing, BlobStore } from '../blobs.js';
import { uploadKey } from '../blobs.js';
import { brokerError, type NatsContext } from './context.js';
import { blobBucket } from './names.js';

/** Object names in the bucket (the object store base64-encodes them into subjects). */
const PART = 'part/';
const MANIFEST = 'manifest/';
const NEWEST = 'newest/';
const partObject = (upload: string, index: number) => `${PART}${upload}/${index}`;
const manifestObject = (name: string, version: string) => `${MANIFEST}${uploadKey(name, version)}`;

/** Chunk size of the object store's messages: it clamps this to the server's max_payload. */
const CHUNK_BYTES = 1024 * 1024;
/** Objects deleted at once when a blob goes. */
const DELETE_CONCURRENCY = 8;

function isPermission(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | null)?.cause;
  return err instanceof PermissionViolationError || cause instanceof PermissionViolationError;
}

/** The bucket is missing and this user was refused making it (a reader, before any write). */
class NoBucketError extends Error {
  override name = 'NoBucketError';
}

function blobError(err: unknown, what: string): Error {
  if (isPermission(err) || err instanceof NoBucketError) {
    return new ForbiddenError(`NATS user may not ${what}`, { cause: err });
  }
  return brokerError(err, what);
}

/** The upload and version of a manifest object's name, or undefined for other objects. */
function splitManifest(object: string): { name: string; version: string } | undefined {
  if (!object.startsWith(MANIFEST)) return undefined;
  const key = object.slice(MANIFEST.length);
  const at = key.lastIndexOf('@');
  return at < 0 ? undefined : { name: key.slice(0, at), version: key.slice(at + 1) };
}

async function eachLimited<T>(items: T[], limit: number, run: (t: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class NatsBlobs implements BlobStore {
  readonly kind = 'nats object store';
  readonly maxPartBytes = MAX_BLOB_PART_BYTES;
  readonly bucket: string;
  #opening: Promise<ObjectStore> | undefined;

  constructor(private readonly ctx: NatsContext) {
    this.bucket = blobBucket(ctx.prefix);
  }

  async putPart(upload: string, index: number, bytes: Uint8Array, sum: string): Promise<void> {
    const os = await this.#os();
    await this.#call(`put a part of blob '${upload}'`, () =>
      os.putBlob(
        {
          name: partObject(upload, index),
          metadata: { sum },
          options: { max_chunk_size: CHUNK_BYTES },
        },
        bytes,
        { timeout: this.ctx.requestTimeoutMs },
      ),
    );
  }

  async getPart(upload: string, index: number): Promise<Uint8Array | undefined> {
    const os = await this.#reader();
    if (os === undefined) return undefined;
    const bytes = await this.#call(`get a part of blob '${upload}'`, () =>
      os.getBlob(partObject(upload, index)),
    );
    return bytes ?? undefined;
  }

  async storedParts(upload: string): Promise<Map<number, string>> {
    const prefix = `${PART}${upload}/`;
    const out = new Map<number, string>();
    for (const info of await this.#objects()) {
      const sum = info.metadata?.['sum'];
      if (!info.name.startsWith(prefix) || sum === undefined) continue;
      const index = Number(info.name.slice(prefix.length));
      if (Number.isInteger(index)) out.set(index, sum);
    }
    return out;
  }

  async commit(name: string, version: string, manifest: Uint8Array): Promise<void> {
    const os = await this.#os();
    await this.#call(`commit blob '${name}'`, async () => {
      await os.putBlob({ name: manifestObject(name, version) }, manifest, {
        timeout: this.ctx.requestTimeoutMs,
      });
      await os.putBlob({ name: `${NEWEST}${name}` }, new TextEncoder().encode(version), {
        timeout: this.ctx.requestTimeoutMs,
      });
    });
  }

  async getManifest(name: string, version?: string): Promise<Uint8Array | undefined> {
    const os = await this.#reader();
    if (os === undefined) return undefined;
    return this.#call(`read blob '${name}'`, async () => {
      let v = version;
      if (v === undefined) {
        const newest = await os.getBlob(`${NEWEST}${name}`);
        if (newest === null) return undefined;
        v = new TextDecoder().decode(newest);
      }
      return (await os.getBlob(manifestObject(name, v))) ?? undefined;
    });
  }

  async list(prefix = ''): Promise<BlobListing[]> {
    const byName = new Map<string, { version: string; revision: number }[]>();
    for (const info of await this.#objects()) {
      const m = splitManifest(info.name);
      if (m === undefined || !m.name.startsWith(prefix)) continue;
      let versions = byName.get(m.name);
      if (versions === undefined) byName.set(m.name, (versions = []));
      versions.push({ version: m.version, revision: info.revision });
    }
    return [...byName]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, versions]) => ({
        name,
        versions: versions.sort((a, b) => a.revision - b.revision).map((v) => v.version),
      }));
  }

  async delete(name: string, version?: string): Promise<boolean> {
    const os = await this.#os();
    const objects = await this.#objects();
    const uploads =
      version === undefined ? `${PART}${name}@` : `${PART}${uploadKey(name, version)}/`;
    const doomed: string[] = [];
    const left: { version: string; revision: number }[] = [];
    for (const info of objects) {
      const m = splitManifest(info.name);
      if (m !== undefined && m.name === name) {
        if (version === undefined || m.version === version) doomed.push(info.name);
        else left.push({ version: m.version, revision: info.revision });
      } else if (info.name.startsWith(uploads)) {
        // A name holds no '@', so `part/<name>@` starts the parts of that name's uploads only.
        doomed.push(info.name);
      }
    }
    if (doomed.length === 0) return false;
    await this.#call(`delete blob '${name}'`, async () => {
      // The newest pointer first, so no reader is sent to a manifest being removed.
      const newest = left.sort((a, b) => a.revision - b.revision).at(-1);
      if (newest === undefined) await os.delete(`${NEWEST}${name}`);
      else {
        await os.putBlob({ name: `${NEWEST}${name}` }, new TextEncoder().encode(newest.version));
      }
      await eachLimited(doomed, DELETE_CONCURRENCY, async (object) => {
        await os.delete(object);
      });
    });
    return true;
  }

  /** Every live object of the bucket (its metadata, not its bytes). */
  async #objects(): Promise<ObjectInfo[]> {
    const os = await this.#reader();
    if (os === undefined) return [];
    const all = await this.#call('list blobs', () => os.list());
    return all.filter((info) => !info.deleted);
  }

  async #call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw blobError(err, what);
    }
  }

  #os(): Promise<ObjectStore> {
    this.#opening ??= this.#open().catch((err: unknown) => {
      this.#opening = undefined; // the next call tries again
      throw err instanceof MissingPackageError ? err : blobError(err, 'open the blob store');
    });
    return this.#opening;
  }

  /**
   * The bucket for reading, or undefined when it does not exist yet and this user may not make
   * it (a worker started before any blob was written): then there is nothing to read.
   */
  async #reader(): Promise<ObjectStore | undefined> {
    try {
      return await this.#os();
    } catch (err) {
      if (err instanceof ForbiddenError && err.cause instanceof NoBucketError) return undefined;
      throw err;
    }
  }

  /** Binds to the bucket, creating it when it is missing (a user allowed to create it). */
  async #open(): Promise<ObjectStore> {
    let Objm: typeof import('@nats-io/obj').Objm;
    try {
      ({ Objm } = await import('@nats-io/obj'));
    } catch (err) {
      throw new MissingPackageError('@nats-io/obj', 'blobs on the nats transport', { cause: err });
    }
    // No account-info request ($JS.API.INFO) first: a user granted only this bucket can open it.
    const js = jetstream(this.ctx.nc, { timeout: this.ctx.requestTimeoutMs, checkAPI: false });
    const objm = new Objm(js);
    try {
      return await objm.open(this.bucket);
    } catch (err) {
      // A user refused the stream's info may not read blobs; any other failure: try making it.
      if (isPermission(err)) throw err;
    }
    try {
      return await objm.create(this.bucket, {
        replicas: this.ctx.setup.replicas,
        storage: this.ctx.setup.storage === 'memory' ? StorageType.Memory : StorageType.File,
      });
    } catch (err) {
      if (isPermission(err)) {
        throw new NoBucketError(`blob bucket ${this.bucket} does not exist`, { cause: err });
      }
      throw err;
    }
  }
}
