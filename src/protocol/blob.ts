// Blobs: payloads of any size kept on the bus's store as checksummed parts and a manifest
// (docs/protocol.md, "Blobs"). The manifest is the contract between a writer and every reader:
// it names the blob and its version and gives the size, the part size and the SHA-256 of the
// whole and of each part, so a reader verifies every part it fetches and resumes from any part.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ChunkCorruptError, ConfigError } from './errors.js';

/**
 * Blob names: letters, digits and `._/:-`, starting with a letter or digit; no `..` and no
 * trailing `/`. Names read as paths (`params/llama-3/lora-fr`), never as file-system paths.
 */
export const BLOB_NAME_RE = /^(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9][A-Za-z0-9._/:-]{0,255}(?<!\/)$/;
/** Versions: one token of letters, digits and `._+-`. */
export const BLOB_VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
/** The `sha256:` + base64url form used for every sum (as `sum` and `chunk.partSum`). */
export const SHA256_SUM_RE = /^sha256:[A-Za-z0-9_-]{43}$/;
/** Most parts in one blob: 1 TiB at the default 4 MiB part size. */
export const MAX_BLOB_PARTS = 262_144;
/** Part sizes a writer may choose: 64 KiB to 64 MiB. */
export const MIN_BLOB_PART_BYTES = 64 * 1024;
export const MAX_BLOB_PART_BYTES = 64 * 1024 * 1024;
export const DEFAULT_BLOB_PART_BYTES = 4 * 1024 * 1024;

const Sum = Type.String({ pattern: SHA256_SUM_RE.source });

export const BlobManifestSchema = Type.Object(
  {
    /** Manifest format version; 1 here. */
    blob: Type.Literal(1),
    name: Type.String({ pattern: BLOB_NAME_RE.source }),
    version: Type.String({ pattern: BLOB_VERSION_RE.source }),
    /** Bytes in the whole blob (0 for an empty one, which has no parts). */
    size: Type.Integer({ minimum: 0 }),
    /** SHA-256 of the whole blob. */
    sum: Sum,
    /** Bytes in every part but the last, which holds the rest. */
    partBytes: Type.Integer({ minimum: MIN_BLOB_PART_BYTES, maximum: MAX_BLOB_PART_BYTES }),
    /** SHA-256 of each part, in order: ceil(size / partBytes) of them. */
    parts: Type.Array(Sum, { maxItems: MAX_BLOB_PARTS }),
    contentType: Type.String({ minLength: 1, maxLength: 256 }),
    /** When the blob was committed, ms since the epoch. */
    createdAt: Type.Integer({ minimum: 0 }),
    /** Free metadata of the writer (model, adapter, base version...). */
    meta: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 4096 }), {
        maxProperties: 64,
      }),
    ),
  },
  { additionalProperties: false },
);
export type BlobManifest = Static<typeof BlobManifestSchema>;

const manifestCheck = TypeCompiler.Compile(BlobManifestSchema);

/** Number of parts a blob of `size` bytes has at `partBytes` per part. */
export function blobPartCount(size: number, partBytes: number): number {
  return Math.ceil(size / partBytes);
}

/** Bytes in part `index` of a blob. */
export function blobPartSize(manifest: BlobManifest, index: number): number {
  return Math.min(manifest.partBytes, manifest.size - index * manifest.partBytes);
}

/** Checks a blob name; throws a ConfigError saying what a name may hold. */
export function checkBlobName(name: unknown): string {
  if (typeof name !== 'string' || !BLOB_NAME_RE.test(name)) {
    throw new ConfigError(
      `blob name ${JSON.stringify(name)} is not valid: use 1 to 256 letters, digits and "._/:-", starting with a letter or digit, with no "..", "//" or trailing "/"`,
    );
  }
  return name;
}

/** Checks a blob version; throws a ConfigError saying what a version may hold. */
export function checkBlobVersion(version: unknown): string {
  if (typeof version !== 'string' || !BLOB_VERSION_RE.test(version)) {
    throw new ConfigError(
      `blob version ${JSON.stringify(version)} is not valid: use 1 to 128 letters, digits and "._+-", starting with a letter or digit`,
    );
  }
  return version;
}

/** The manifest's bytes as stored: UTF-8 JSON. */
export function encodeManifest(manifest: BlobManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifest));
}

/**
 * Reads stored manifest bytes and checks them: the schema, and that the part list agrees with
 * the size. A manifest that fails is `chunk_corrupt`: the store holds something no writer made.
 */
export function decodeManifest(bytes: Uint8Array): BlobManifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ChunkCorruptError('a stored blob manifest is not JSON', { cause: err });
  }
  if (!manifestCheck.Check(value)) {
    const first = manifestCheck.Errors(value).First();
    throw new ChunkCorruptError(
      `a stored blob manifest is not valid at ${first?.path || '/'}: ${first?.message ?? ''}`,
    );
  }
  const manifest = value;
  if (manifest.parts.length !== blobPartCount(manifest.size, manifest.partBytes)) {
    throw new ChunkCorruptError(
      `blob manifest ${manifest.name}@${manifest.version} lists ${manifest.parts.length} parts for ${manifest.size} bytes at ${manifest.partBytes} per part`,
    );
  }
  return manifest;
}
