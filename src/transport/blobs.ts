// Blob stores: where the parts and manifests of blobs are kept, on each transport's natural
// durable store (memory: Maps; sqlite: tables of its file; nats: a JetStream Object Store
// bucket; redis: keys). A store only keeps bytes; cutting, hashing, verifying, resuming and the
// manifest's meaning are the bus's (src/bus/blobs.ts), the same on every store.
//
// A blob is written as an **upload**: its parts are put one by one under the upload key
// `<name>@<version>`, then its manifest is committed, which makes that version readable and the
// blob's newest. Parts of an upload that was never committed are not listed and may be resumed
// by putting the same name and version again.

/** One blob as `list` shows it: its name and the versions committed, oldest first. */
export interface BlobListing {
  readonly name: string;
  /** Committed versions, in commit order; the last is the one `getManifest(name)` returns. */
  readonly versions: readonly string[];
}

/** The store under `bus.blobs`. Every method rejects with ClosedError once its transport is closed. */
export interface BlobStore {
  /** What keeps the bytes, for status and errors (e.g. 'sqlite', 'nats object store'). */
  readonly kind: string;
  /** Largest part the store takes in one put. */
  readonly maxPartBytes: number;
  /**
   * Stores part `index` of `upload` (`<name>@<version>`), replacing any part there; `sum` is
   * the part's SHA-256 (`sha256:` form), kept so a resumed upload can skip parts already held.
   * Resolves once the part is durable.
   */
  putPart(upload: string, index: number, bytes: Uint8Array, sum: string): Promise<void>;
  /** The part's bytes, or undefined when it is not stored. */
  getPart(upload: string, index: number): Promise<Uint8Array | undefined>;
  /** The sums of the parts stored for `upload`, by index (committed or not). */
  storedParts(upload: string): Promise<Map<number, string>>;
  /**
   * Commits version `version` of blob `name`: its manifest's bytes are kept and the version
   * becomes the blob's newest. Committing a version again replaces its manifest and makes it
   * the newest again.
   */
  commit(name: string, version: string, manifest: Uint8Array): Promise<void>;
  /** The manifest's bytes of that version, or of the newest when `version` is omitted. */
  getManifest(name: string, version?: string): Promise<Uint8Array | undefined>;
  /** The committed blobs whose name starts with `prefix` (all when omitted), sorted by name. */
  list(prefix?: string): Promise<BlobListing[]>;
  /**
   * Removes one version (manifest and parts), or every version and any uncommitted upload of
   * the name when `version` is omitted. True when something was removed.
   */
  delete(name: string, version?: string): Promise<boolean>;
}

/** The upload key of a blob version. */
export function uploadKey(name: string, version: string): string {
  return `${name}@${version}`;
}
