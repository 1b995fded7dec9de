// The blob-store contract every transport's store passes through: the upload keys, indexes,
// bytes, sums, names, versions and manifests a store takes, the answer each bad one gets, and
// the closed check. Adapters wrap their store with `contractBlobs`, so the same input gets the
// same answer on every transport (test/conformance/blobs.ts checks it on each one), and a store
// may assume well-formed arguments on an open transport.
import { SHA256_SUM_RE } from '../protocol/blob.js';
import {
  checkBlobName,
  checkBlobVersion,
  ConfigError,
  MAX_BLOB_PARTS,
  PayloadTooLargeError,
} from '../protocol/index.js';
import type { BlobListing, BlobStore } from './blobs.js';
import { guarded, plain, type StoreGuard } from './records-contract.js';

/** Largest manifest a store keeps: 262,144 sums of 50 characters and the rest, with room. */
export const MAX_BLOB_MANIFEST_BYTES = 16 * 1024 * 1024;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value.slice(0, 80)}'`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Checks an upload key `<name>@<version>`; returns its two halves. */
export function checkUploadKey(upload: unknown): { name: string; version: string } {
  const at = typeof upload === 'string' ? upload.lastIndexOf('@') : -1;
  if (typeof upload !== 'string' || at < 0) {
    throw new ConfigError(`blob upload ${describe(upload)} must be '<name>@<version>'`);
  }
  return {
    name: checkBlobName(upload.slice(0, at)),
    version: checkBlobVersion(upload.slice(at + 1)),
  };
}

function checkIndex(index: unknown): void {
  if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= MAX_BLOB_PARTS) {
    throw new ConfigError(
      `blob part index ${describe(index)} must be an integer from 0 to ${MAX_BLOB_PARTS - 1}`,
    );
  }
}

function checkBytes(what: string, value: unknown, limit: number, kind: string): void {
  if (!(value instanceof Uint8Array)) {
    throw new ConfigError(`${what} must be a Uint8Array, got ${describe(value)}`);
  }
  if (value.byteLength > limit) {
    throw new PayloadTooLargeError(
      `${what} is ${value.byteLength} bytes; the ${kind} blob store takes at most ${limit}`,
      { details: { limit, size: value.byteLength } },
    );
  }
}

function checkSum(sum: unknown): void {
  if (typeof sum !== 'string' || !SHA256_SUM_RE.test(sum)) {
    throw new ConfigError(
      `blob part sum ${describe(sum)} must be 'sha256:' + 43 base64url characters`,
    );
  }
}

/**
 * `store` with every argument checked before the adapter sees it, and every call refused once
 * the transport is closed (the transport's own ClosedError).
 */
export function contractBlobs(store: BlobStore, guard: StoreGuard): BlobStore {
  const version = (v: string | undefined) => {
    if (v !== undefined) checkBlobVersion(v);
  };
  return {
    kind: store.kind,
    // Read each time: a store reached over a connection learns its limit when it connects.
    get maxPartBytes() {
      return store.maxPartBytes;
    },
    putPart: (upload, index, bytes, sum) =>
      guarded(
        guard,
        () => {
          checkUploadKey(upload);
          checkIndex(index);
          checkBytes('a blob part', bytes, store.maxPartBytes, store.kind);
          checkSum(sum);
        },
        () => store.putPart(upload, index, bytes, sum),
      ),
    getPart: (upload, index) =>
      guarded(
        guard,
        () => {
          checkUploadKey(upload);
          checkIndex(index);
        },
        async () => plain(await store.getPart(upload, index)),
      ),
    storedParts: (upload) =>
      guarded(
        guard,
        () => checkUploadKey(upload),
        () => store.storedParts(upload),
      ),
    commit: (name, v, manifest) =>
      guarded(
        guard,
        () => {
          checkBlobName(name);
          checkBlobVersion(v);
          checkBytes('a blob manifest', manifest, MAX_BLOB_MANIFEST_BYTES, store.kind);
        },
        () => store.commit(name, v, manifest),
      ),
    getManifest: (name, v) =>
      guarded(
        guard,
        () => {
          checkBlobName(name);
          version(v);
        },
        async () => plain(await store.getManifest(name, v)),
      ),
    list: (prefix = ''): Promise<BlobListing[]> =>
      guarded(
        guard,
        () => {
          if (typeof prefix !== 'string') {
            throw new ConfigError(`a blob list prefix must be a string, got ${describe(prefix)}`);
          }
        },
        () => store.list(prefix),
      ),
    delete: (name, v) =>
      guarded(
        guard,
        () => {
          checkBlobName(name);
          version(v);
        },
        () => store.delete(name, v),
      ),
  };
}
