// bus.blobs on the memory transport: the format, verification and resume rules every store
// shares (the stores themselves are checked by test/conformance/blobs.ts on each transport).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { decodeManifest } from '../../src/protocol/index.js';
import type { BlobStore } from '../../src/transport/blobs.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

const KiB = 1024;
const sum = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('base64url');

function setup() {
  const transport = createMemoryTransport();
  const bus = createBus({ transport });
  return { bus, store: transport.blobs!(), close: () => transport.close() };
}

async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

describe('bus.blobs', () => {
  test('put from a stream of odd-sized chunks and read back, with a manifest of every part', async () => {
    const { bus, close } = setup();
    const data = randomBytes(1000 * KiB + 17);
    const m = await bus.blobs.put('params/m1', pieces(data, 7777), {
      partBytes: 64 * KiB,
      version: 'v1',
      contentType: 'application/x-gguf',
      meta: { model: 'm1' },
    });
    assert.equal(m.size, data.byteLength);
    assert.equal(m.sum, sum(data));
    assert.equal(m.parts.length, Math.ceil(data.byteLength / (64 * KiB)));
    assert.equal(m.parts[0], sum(data.subarray(0, 64 * KiB)));
    assert.deepEqual(await bus.blobs.stat('params/m1'), m);
    assert.deepEqual(Buffer.from(await bus.blobs.get('params/m1')), data);
    await close();
  });

  test('an empty blob has no parts and reads back empty', async () => {
    const { bus, close } = setup();
    const m = await bus.blobs.put('empty', new Uint8Array(0));
    assert.equal(m.size, 0);
    assert.deepEqual(m.parts, []);
    assert.equal((await bus.blobs.get('empty')).byteLength, 0);
    await close();
  });

  test('the newest committed version is the default; older ones stay readable until deleted', async () => {
    const { bus, close } = setup();
    await bus.blobs.put('a', Buffer.from('one'), { version: 'v1' });
    await bus.blobs.put('a', Buffer.from('two'), { version: 'v2' });
    assert.equal(Buffer.from(await bus.blobs.get('a')).toString(), 'two');
    assert.equal(Buffer.from(await bus.blobs.get('a', { version: 'v1' })).toString(), 'one');
    const [entry] = await bus.blobs.list();
    assert.deepEqual(entry?.versions, ['v1', 'v2']);
    assert.equal(await bus.blobs.delete('a', { version: 'v2' }), true);
    assert.equal(Buffer.from(await bus.blobs.get('a')).toString(), 'one');
    assert.equal(await bus.blobs.delete('a'), true);
    await assert.rejects(bus.blobs.stat('a'), { code: 'not_found' });
    assert.equal(await bus.blobs.delete('a'), false);
    await close();
  });

  test('a put started again after an interruption writes only the parts not yet stored', async () => {
    const { bus, store, close } = setup();
    const data = randomBytes(640 * KiB);
    const abort = new AbortController();
    let written = 0;
    await assert.rejects(
      bus.blobs.put('big', pieces(data, 64 * KiB), {
        version: 'v1',
        partBytes: 64 * KiB,
        concurrency: 1,
        signal: abort.signal,
        onProgress: (p) => {
          if (p.moved) written += 1;
          if (written === 4) abort.abort();
        },
      }),
      { code: 'cancelled' },
    );
    await assert.rejects(bus.blobs.stat('big'), { code: 'not_found' }, 'not committed');
    let moved = 0;
    let skipped = 0;
    await bus.blobs.put('big', data, {
      version: 'v1',
      partBytes: 64 * KiB,
      onProgress: (p) => (p.moved ? moved++ : skipped++),
    });
    assert.ok(skipped >= 4, `skipped ${skipped}`);
    assert.equal(moved + skipped, 10);
    assert.equal(sum(await bus.blobs.get('big')), sum(data));
    assert.equal((await store.storedParts('big@v1')).size, 10);
    await close();
  });

  test('a part changed in the store is refused as chunk_corrupt', async () => {
    const { bus, store, close } = setup();
    const data = randomBytes(200 * KiB);
    await bus.blobs.put('x', data, { version: 'v1', partBytes: 64 * KiB });
    const bad = randomBytes(64 * KiB);
    await store.putPart('x@v1', 1, bad, sum(bad));
    await assert.rejects(bus.blobs.get('x'), { code: 'chunk_corrupt' });
    await close();
  });

  test('a part missing from the store is chunk_missing', async () => {
    const { bus, close } = setup();
    const inner = setup();
    const data = randomBytes(200 * KiB);
    const m = await bus.blobs.put('x', data, { version: 'v1', partBytes: 64 * KiB });
    // Only the manifest reaches a second store.
    const store: BlobStore = inner.store;
    await store.commit('x', 'v1', Buffer.from(JSON.stringify(m)));
    await assert.rejects(inner.bus.blobs.get('x'), { code: 'chunk_missing' });
    await close();
    await inner.close();
  });

  test('getFile resumes: parts already in the partial file are kept, only the rest fetched', async () => {
    const { bus, close } = setup();
    const dir = mkdtempSync(join(tmpdir(), 'blobs-'));
    const data = randomBytes(10 * 64 * KiB + 5);
    await bus.blobs.put('w', data, { version: 'v1', partBytes: 64 * KiB });
    const out = join(dir, 'w.bin');
    // A download that stopped after three and a half parts.
    writeFileSync(`${out}.part`, data.subarray(0, 3 * 64 * KiB + 100));
    writeFileSync(`${out}.part.json`, JSON.stringify({ name: 'w', version: 'v1', sum: sum(data) }));
    const got = await bus.blobs.getFile('w', out);
    assert.equal(got.reused, 3);
    assert.equal(got.fetched, 8);
    assert.equal(sum(readFileSync(out)), sum(data));
    assert.equal(existsSync(`${out}.part`), false);
    // A corrupted part in the partial file is fetched again.
    writeFileSync(`${out}.part`, data);
    writeFileSync(`${out}.part.json`, JSON.stringify({ name: 'w', version: 'v1', sum: sum(data) }));
    const f = readFileSync(`${out}.part`);
    f[70 * KiB] = (f[70 * KiB] ?? 0) ^ 0xff;
    writeFileSync(`${out}.part`, f);
    truncateSync(`${out}.part`, data.byteLength);
    const again = await bus.blobs.getFile('w', out);
    assert.deepEqual([again.reused, again.fetched], [10, 1]);
    assert.equal(sum(readFileSync(out)), sum(data));
    await close();
  });

  test('putFile derives its version from the content, so the same file puts to the same version', async () => {
    const { bus, close } = setup();
    const dir = mkdtempSync(join(tmpdir(), 'blobs-'));
    const path = join(dir, 'f');
    writeFileSync(path, randomBytes(300 * KiB));
    const a = await bus.blobs.putFile('f', path, { partBytes: 64 * KiB });
    let moved = 0;
    const b = await bus.blobs.putFile('f', path, {
      partBytes: 64 * KiB,
      onProgress: (p) => (p.moved ? moved++ : 0),
    });
    assert.equal(a.version, b.version);
    assert.equal(moved, 0);
    await close();
  });

  test('bad names, versions and options get config_invalid naming what to fix', async () => {
    const { bus, close } = setup();
    for (const name of ['', '../x', 'a//b', 'a/', '/a', 'sp ace', 'x'.repeat(257), 7]) {
      await assert.rejects(bus.blobs.put(name as string, new Uint8Array(1)), {
        code: 'config_invalid',
      });
    }
    await assert.rejects(bus.blobs.put('ok', new Uint8Array(1), { version: 'a b' }), {
      code: 'config_invalid',
      message: /version/,
    });
    await assert.rejects(bus.blobs.put('ok', new Uint8Array(1), { partBytes: 1000 }), {
      code: 'config_invalid',
      message: /partBytes/,
    });
    await assert.rejects(bus.blobs.put('ok', new Uint8Array(1), { chunk: 5 } as never), {
      code: 'config_invalid',
    });
    await assert.rejects(bus.blobs.put('ok', ['text'] as never), { code: 'config_invalid' });
    await close();
  });

  test('a stored manifest that is not valid is chunk_corrupt', async () => {
    const { bus, store, close } = setup();
    await store.commit('m', 'v1', Buffer.from('{"blob":1}'));
    await assert.rejects(bus.blobs.stat('m'), { code: 'chunk_corrupt' });
    assert.throws(() => decodeManifest(Buffer.from('nope')), { code: 'chunk_corrupt' });
    await close();
  });
});
