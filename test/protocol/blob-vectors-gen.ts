// Writes the blob vectors of docs/protocol.md ("Blobs") from the spec's rules, with no llmwire
// code: a blob's bytes, its parts, its manifest, and manifests a reader must refuse.
// Run: npx tsc -p . && node dist/test/protocol/blob-vectors-gen.js
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BLOB_VECTOR_DIR = join('test', 'fixtures', 'blobs', 'v1');

const PART_BYTES = 65_536;
const SIZE = 150_000;

const sum = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('base64url');

/** The vector blob: 150,000 bytes that repeat nowhere within a part. */
export function vectorBlob(): Buffer {
  const out = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) out[i] = (i * 31 + (i >> 8) + (i >> 16)) & 0xff;
  return out;
}

export function vectorManifest(blob: Buffer): Record<string, unknown> {
  const parts: string[] = [];
  for (let at = 0; at < blob.byteLength; at += PART_BYTES) {
    parts.push(sum(blob.subarray(at, at + PART_BYTES)));
  }
  return {
    blob: 1,
    name: 'params/tiny-model/adapters/fr',
    version: '2026-01-01.1',
    size: blob.byteLength,
    sum: sum(blob),
    partBytes: PART_BYTES,
    parts,
    contentType: 'application/octet-stream',
    createdAt: 1767225600000,
    meta: { model: 'tiny-model', adapter: 'fr' },
  };
}

function main(): void {
  mkdirSync(BLOB_VECTOR_DIR, { recursive: true });
  const blob = vectorBlob();
  const manifest = vectorManifest(blob);
  writeFileSync(join(BLOB_VECTOR_DIR, 'blob.bin'), blob);
  writeFileSync(join(BLOB_VECTOR_DIR, 'manifest.json'), JSON.stringify(manifest));
  const parts = manifest['parts'] as string[];
  const invalid: Record<string, unknown> = {
    'extra-member': { ...manifest, owner: 'x' },
    'parts-count': { ...manifest, parts: parts.slice(0, 2) },
    'part-bytes-small': { ...manifest, partBytes: 1024, parts },
    'bad-sum-form': { ...manifest, sum: 'sha256:' + 'A'.repeat(42) },
    'name-dotdot': { ...manifest, name: 'params/../etc' },
    'version-space': { ...manifest, version: 'v 1' },
    'format-2': { ...manifest, blob: 2 },
  };
  writeFileSync(join(BLOB_VECTOR_DIR, 'invalid.json'), JSON.stringify(invalid, null, 2) + '\n');
}

if (process.argv[1]?.endsWith('blob-vectors-gen.js') === true) main();
