// The blob store of the sqlite transport: parts and manifests as rows of two tables in the
// transport's file (docs/protocol.md, "Blob stores"), so every process opening the file sees
// the same blobs and a part survives the process being killed once its put has resolved.
// Writes go through the group commit; a part is one row, read and written whole, so memory
// holds at most the parts in flight, never a whole blob.
import type { Statement } from 'better-sqlite3';
import { MAX_BLOB_PART_BYTES } from '../../protocol/index.js';
import type { BlobListing, BlobStore } from '../blobs.js';
import { uploadKey } from '../blobs.js';
import { storeError, type GroupCommit } from './group-commit.js';
import type { Db } from './schema.js';

// Rowid tables: a part is up to 64 MiB, which SQLite keeps in overflow pages of its row; a
// WITHOUT ROWID table would copy it into the index b-tree. Added without a layout version bump
// (older builds never read them; CREATE IF NOT EXISTS adds them to files they wrote).
const DDL = `
CREATE TABLE IF NOT EXISTS llmwire_blob_parts (
  upload TEXT    NOT NULL,
  idx    INTEGER NOT NULL,
  sum    TEXT    NOT NULL,
  bytes  BLOB    NOT NULL,
  UNIQUE (upload, idx)
);
CREATE TABLE IF NOT EXISTS llmwire_blob_versions (
  name     TEXT    NOT NULL,
  version  TEXT    NOT NULL,
  seq      INTEGER NOT NULL,
  manifest BLOB    NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS llmwire_blob_versions_seq ON llmwire_blob_versions (name, seq);
`;

/**
 * The upload keys of every version of `name` sort from `<name>@` up to (not including)
 * `<name>A`: `A` follows `@` in code order, and a version holds no `@`.
 */
function uploadRange(name: string): [string, string] {
  return [`${name}@`, `${name}A`];
}

class BlobStatements {
  readonly putPart: Statement<[string, number, string, Buffer]>;
  readonly getPart: Statement<[string, number], { bytes: Buffer }>;
  readonly sums: Statement<[string], { idx: number; sum: string }>;
  readonly commit: Statement<[string, string, Buffer]>;
  readonly manifest: Statement<[string, string], { manifest: Buffer }>;
  readonly newest: Statement<[string], { manifest: Buffer }>;
  readonly list: Statement<[string, string], { name: string; version: string }>;
  readonly dropVersion: Statement<[string, string]>;
  readonly dropName: Statement<[string]>;
  readonly dropUpload: Statement<[string]>;
  readonly dropUploads: Statement<[string, string]>;

  constructor(db: Db) {
    db.exec(DDL);
    this.putPart = db.prepare(
      `INSERT INTO llmwire_blob_parts (upload, idx, sum, bytes) VALUES (?, ?, ?, ?)
       ON CONFLICT (upload, idx) DO UPDATE SET sum = excluded.sum, bytes = excluded.bytes`,
    );
    this.getPart = db.prepare('SELECT bytes FROM llmwire_blob_parts WHERE upload = ? AND idx = ?');
    this.sums = db.prepare('SELECT idx, sum FROM llmwire_blob_parts WHERE upload = ?');
    // seq orders commits across every blob of the file, so "newest" is the last committed.
    this.commit = db.prepare(
      `INSERT INTO llmwire_blob_versions (name, version, seq, manifest)
       VALUES (?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM llmwire_blob_versions), ?)
       ON CONFLICT (name, version) DO UPDATE SET seq = excluded.seq, manifest = excluded.manifest`,
    );
    this.manifest = db.prepare(
      'SELECT manifest FROM llmwire_blob_versions WHERE name = ? AND version = ?',
    );
    this.newest = db.prepare(
      'SELECT manifest FROM llmwire_blob_versions WHERE name = ? ORDER BY seq DESC LIMIT 1',
    );
    this.list = db.prepare(
      `SELECT name, version FROM llmwire_blob_versions
       WHERE substr(name, 1, length(?)) = ? ORDER BY name, seq`,
    );
    this.dropVersion = db.prepare(
      'DELETE FROM llmwire_blob_versions WHERE name = ? AND version = ?',
    );
    this.dropName = db.prepare('DELETE FROM llmwire_blob_versions WHERE name = ?');
    this.dropUpload = db.prepare('DELETE FROM llmwire_blob_parts WHERE upload = ?');
    this.dropUploads = db.prepare(
      'DELETE FROM llmwire_blob_parts WHERE upload >= ? AND upload < ?',
    );
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class SqliteBlobs implements BlobStore {
  readonly kind = 'sqlite';
  readonly maxPartBytes = MAX_BLOB_PART_BYTES;
  readonly #st: BlobStatements;

  /** Creates the tables in a file that has none yet and prepares the statements. */
  constructor(
    db: Db,
    private readonly commits: GroupCommit,
  ) {
    try {
      this.#st = new BlobStatements(db);
    } catch (err) {
      throw storeError(err);
    }
  }

  #read<T>(fn: (st: BlobStatements) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.#st));
    } catch (err) {
      return Promise.reject(storeError(err));
    }
  }

  putPart(upload: string, index: number, bytes: Uint8Array, sum: string): Promise<void> {
    const st = this.#st;
    return this.commits.run(() => {
      st.putPart.run(upload, index, sum, asBuffer(bytes));
    });
  }

  getPart(upload: string, index: number): Promise<Uint8Array | undefined> {
    return this.#read((st) => st.getPart.get(upload, index)?.bytes);
  }

  storedParts(upload: string): Promise<Map<number, string>> {
    return this.#read((st) => new Map(st.sums.all(upload).map((r) => [r.idx, r.sum] as const)));
  }

  commit(name: string, version: string, manifest: Uint8Array): Promise<void> {
    const st = this.#st;
    return this.commits.run(() => {
      st.commit.run(name, version, asBuffer(manifest));
    });
  }

  getManifest(name: string, version?: string): Promise<Uint8Array | undefined> {
    return this.#read(
      (st) =>
        (version === undefined ? st.newest.get(name) : st.manifest.get(name, version))?.manifest,
    );
  }

  list(prefix = ''): Promise<BlobListing[]> {
    return this.#read((st) => {
      const out: { name: string; versions: string[] }[] = [];
      for (const row of st.list.all(prefix, prefix)) {
        const last = out.at(-1);
        if (last?.name === row.name) last.versions.push(row.version);
        else out.push({ name: row.name, versions: [row.version] });
      }
      return out;
    });
  }

  delete(name: string, version?: string): Promise<boolean> {
    const st = this.#st;
    return this.commits.run(() => {
      if (version !== undefined) {
        const manifests = st.dropVersion.run(name, version).changes;
        return manifests + st.dropUpload.run(uploadKey(name, version)).changes > 0;
      }
      const manifests = st.dropName.run(name).changes;
      return manifests + st.dropUploads.run(...uploadRange(name)).changes > 0;
    });
  }
}
