// The memory blob store: parts and manifests in Maps, lost with the process. The reference for
// the other stores and the store of the memory transport.
import type { BlobListing, BlobStore } from '../blobs.js';
import { uploadKey } from '../blobs.js';

interface Version {
  readonly version: string;
  manifest: Uint8Array;
}

export class MemoryBlobs implements BlobStore {
  readonly kind = 'memory';
  readonly maxPartBytes = Number.POSITIVE_INFINITY;
  /** upload key -> index -> [bytes, sum] */
  readonly #parts = new Map<string, Map<number, readonly [Uint8Array, string]>>();
  /** name -> committed versions, oldest commit first */
  readonly #blobs = new Map<string, Version[]>();

  constructor(private readonly assertOpen: () => void) {}

  putPart(upload: string, index: number, bytes: Uint8Array, sum: string): Promise<void> {
    this.assertOpen();
    let parts = this.#parts.get(upload);
    if (parts === undefined) this.#parts.set(upload, (parts = new Map()));
    // A copy: the caller may reuse its buffer.
    parts.set(index, [new Uint8Array(bytes), sum]);
    return Promise.resolve();
  }

  getPart(upload: string, index: number): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return Promise.resolve(this.#parts.get(upload)?.get(index)?.[0]);
  }

  storedParts(upload: string): Promise<Map<number, string>> {
    this.assertOpen();
    const out = new Map<number, string>();
    for (const [index, [, sum]] of this.#parts.get(upload) ?? []) out.set(index, sum);
    return Promise.resolve(out);
  }

  commit(name: string, version: string, manifest: Uint8Array): Promise<void> {
    this.assertOpen();
    const versions = (this.#blobs.get(name) ?? []).filter((v) => v.version !== version);
    versions.push({ version, manifest: new Uint8Array(manifest) });
    this.#blobs.set(name, versions);
    return Promise.resolve();
  }

  getManifest(name: string, version?: string): Promise<Uint8Array | undefined> {
    this.assertOpen();
    const versions = this.#blobs.get(name) ?? [];
    const found =
      version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
    return Promise.resolve(found?.manifest);
  }

  list(prefix = ''): Promise<BlobListing[]> {
    this.assertOpen();
    const out: BlobListing[] = [];
    for (const [name, versions] of this.#blobs) {
      if (name.startsWith(prefix)) out.push({ name, versions: versions.map((v) => v.version) });
    }
    return Promise.resolve(out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }

  delete(name: string, version?: string): Promise<boolean> {
    this.assertOpen();
    let removed = false;
    const versions = this.#blobs.get(name) ?? [];
    const keep = version === undefined ? [] : versions.filter((v) => v.version !== version);
    if (keep.length !== versions.length) removed = true;
    if (keep.length === 0) this.#blobs.delete(name);
    else this.#blobs.set(name, keep);
    const prefix = uploadKey(name, '');
    for (const upload of [...this.#parts.keys()]) {
      const match =
        version === undefined ? upload.startsWith(prefix) : upload === uploadKey(name, version);
      if (match) removed = this.#parts.delete(upload) || removed;
    }
    return Promise.resolve(removed);
  }
}
