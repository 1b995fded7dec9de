// The blob vectors (test/fixtures/blobs/v1, docs/protocol.md "Blobs") against the implementation:
// the manifest decodes and encodes back byte for byte, its sums are the blob's, a blob written by
// bus.blobs with the same inputs gets the same parts and sums, and every invalid manifest is
// refused with chunk_corrupt.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { decodeManifest, encodeManifest } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { BLOB_VECTOR_DIR, vectorBlob } from './blob-vectors-gen.js';

const blob = readFileSync(join(BLOB_VECTOR_DIR, 'blob.bin'));
const manifestBytes = readFileSync(join(BLOB_VECTOR_DIR, 'manifest.json'));

test('blob vectors - the vector blob is the generator’s', () => {
  assert.ok(blob.equals(vectorBlob()));
});

test('blob vectors - the manifest decodes and encodes back byte for byte', () => {
  const manifest = decodeManifest(manifestBytes);
  assert.ok(Buffer.from(encodeManifest(manifest)).equals(manifestBytes));
  assert.equal(manifest.size, blob.byteLength);
  assert.equal(manifest.parts.length, 3);
});

test('blob vectors - bus.blobs writes the same parts and sums for the same bytes', async () => {
  const expected = decodeManifest(manifestBytes);
  const transport = createMemoryTransport();
  const bus = createBus({ transport });
  const written = await bus.blobs.put(expected.name, blob, {
    version: expected.version,
    partBytes: expected.partBytes,
    contentType: expected.contentType,
    meta: expected.meta ?? {},
  });
  assert.deepEqual({ ...written, createdAt: 0 }, { ...expected, createdAt: 0 });
  assert.ok(Buffer.from(await bus.blobs.get(expected.name)).equals(blob));
  await transport.close();
});

test('blob vectors - every invalid manifest is refused with chunk_corrupt', () => {
  const invalid = JSON.parse(readFileSync(join(BLOB_VECTOR_DIR, 'invalid.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.ok(Object.keys(invalid).length >= 7);
  for (const [name, manifest] of Object.entries(invalid)) {
    assert.throws(
      () => decodeManifest(Buffer.from(JSON.stringify(manifest))),
      { code: 'chunk_corrupt' },
      name,
    );
  }
});
