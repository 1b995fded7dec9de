// Conformance: blob stores (transport/blobs.ts) behave the same on every transport that has one,
// through the store itself and through `bus.blobs` end to end, and every bad argument gets the
// same answer (blobs-contract.ts). A transport without a store is checked to have none and to
// make `bus.blobs` fail with a typed error saying how to give the bus one.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus, type Bus } from '../../src/bus/index.js';
import type { BlobStore } from '../../src/transport/blobs.js';
import type { Transport } from '../../src/transport/transport.js';
import { unique, type TransportFactory } from './harness.js';

const KiB = 1024;
const PART = 64 * KiB;
const sum = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('base64url');
const text = (b: Uint8Array) => Buffer.from(b).toString();

/** A blob name unique to one test (the brokers are shared by every run). */
const blobName = (what: string) => `conf/${unique(what)}`;

function storeOf(transport: Transport): BlobStore {
  assert.ok(transport.blobs !== undefined, `${transport.name} has a blob store`);
  return transport.blobs();
}

async function withBus<T>(
  factory: TransportFactory,
  run: (bus: Bus, store: BlobStore, transport: Transport) => Promise<T>,
): Promise<T> {
  const transport = await factory.create();
  const bus = createBus({ transport, source: 'blobs', onError: () => undefined });
  try {
    await bus.ready;
    return await run(bus, storeOf(transport), transport);
  } finally {
    await bus.close();
    await transport.close();
  }
}

async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

/** Each bad argument to a store method, and the code every store answers with. */
const BAD_CALLS: readonly [string, (s: BlobStore) => Promise<unknown>, string][] = [
  [
    'putPart: upload with no version',
    (s) => s.putPart('name', 0, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: upload with a bad name',
    (s) => s.putPart('../x@v1', 0, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: upload with a bad version',
    (s) => s.putPart('x@v 1', 0, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: negative index',
    (s) => s.putPart('x@v1', -1, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: fractional index',
    (s) => s.putPart('x@v1', 1.5, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: index past the last part',
    (s) => s.putPart('x@v1', 262_144, new Uint8Array(1), sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: bytes as a string',
    (s) => s.putPart('x@v1', 0, 'text' as unknown as Uint8Array, sum(new Uint8Array(1))),
    'config_invalid',
  ],
  [
    'putPart: sum not sha256',
    (s) => s.putPart('x@v1', 0, new Uint8Array(1), 'md5:abc'),
    'config_invalid',
  ],
  ['getPart: bad upload', (s) => s.getPart('x', 0), 'config_invalid'],
  ['getPart: bad index', (s) => s.getPart('x@v1', Number.NaN), 'config_invalid'],
  ['storedParts: bad upload', (s) => s.storedParts(7 as unknown as string), 'config_invalid'],
  ['commit: bad name', (s) => s.commit('a//b', 'v1', new Uint8Array(1)), 'config_invalid'],
  ['commit: bad version', (s) => s.commit('a', '', new Uint8Array(1)), 'config_invalid'],
  ['commit: manifest not bytes', (s) => s.commit('a', 'v1', {} as Uint8Array), 'config_invalid'],
  ['getManifest: bad name', (s) => s.getManifest('/a'), 'config_invalid'],
  ['getManifest: bad version', (s) => s.getManifest('a', 'v/1'), 'config_invalid'],
  ['list: prefix not a string', (s) => s.list(5 as unknown as string), 'config_invalid'],
  ['delete: bad name', (s) => s.delete('a/'), 'config_invalid'],
  ['delete: bad version', (s) => s.delete('a', '-v'), 'config_invalid'],
];

export function blobsSuite(factory: TransportFactory): void {
  if (factory.noBlobs === true) {
    describe(`${factory.name} - blobs`, () => {
      test('blobs - the transport has no store; bus.blobs fails saying how to give it one', async () => {
        await withNoStore(factory);
      });
    });
    return;
  }

  // Tests that forge a corruption by writing it straight into the store: not registered for a
  // blob service, which refuses such writes (its own tests check that it does).
  const forgeable = (name: string, fn: () => Promise<void>): void => {
    if (factory.blobService !== true) test(name, fn);
  };

  describe(`${factory.name} - blobs`, () => {
    test('blobs - put from a stream, stat, get, getFile and list through bus.blobs', async () => {
      await withBus(factory, async (bus) => {
        const name = blobName('pg');
        const data = randomBytes(5 * PART + 17);
        const m = await bus.blobs.put(name, pieces(data, 7777), {
          version: 'v1',
          partBytes: PART,
          contentType: 'application/x-gguf',
          meta: { model: 'm1' },
        });
        assert.equal(m.size, data.byteLength);
        assert.equal(m.sum, sum(data));
        assert.equal(m.parts.length, 6);
        assert.deepEqual(await bus.blobs.stat(name), m);
        assert.equal(sum(await bus.blobs.get(name)), sum(data));
        const dir = mkdtempSync(join(tmpdir(), 'llmwire-blobs-conf-'));
        try {
          const got = await bus.blobs.getFile(name, join(dir, 'out'));
          assert.equal(got.fetched, 6);
          assert.equal(sum(readFileSync(join(dir, 'out'))), sum(data));
          writeFileSync(join(dir, 'in'), data);
          const again = await bus.blobs.putFile(`${name}-file`, join(dir, 'in'), {
            partBytes: PART,
          });
          assert.equal(again.sum, m.sum);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        const listed = await bus.blobs.list(name);
        assert.deepEqual(
          listed.map((e) => [e.name, e.versions.length, e.latest.sum]),
          [
            [name, 1, m.sum],
            [`${name}-file`, 1, m.sum],
          ],
        );
        const empty = await bus.blobs.put(`${name}-empty`, new Uint8Array(0), { version: 'e' });
        assert.deepEqual(empty.parts, []);
        assert.equal((await bus.blobs.get(`${name}-empty`)).byteLength, 0);
      });
    });

    test('blobs - versions: the newest is the last committed, older ones readable until deleted', async () => {
      await withBus(factory, async (bus) => {
        const name = blobName('ver');
        await bus.blobs.put(name, Buffer.from('one'), { version: 'v1' });
        await bus.blobs.put(name, Buffer.from('two'), { version: 'v2' });
        assert.equal(text(await bus.blobs.get(name)), 'two');
        assert.equal(text(await bus.blobs.get(name, { version: 'v1' })), 'one');
        assert.deepEqual(
          (await bus.blobs.list(name)).map((e) => e.versions),
          [['v1', 'v2']],
        );
        // Committing v1 again makes it the newest.
        await bus.blobs.put(name, Buffer.from('uno'), { version: 'v1' });
        assert.equal(text(await bus.blobs.get(name)), 'uno');
        assert.deepEqual(
          (await bus.blobs.list(name)).map((e) => e.versions),
          [['v2', 'v1']],
        );
        assert.equal(await bus.blobs.delete(name, { version: 'v1' }), true);
        assert.equal(text(await bus.blobs.get(name)), 'two');
        await assert.rejects(bus.blobs.stat(name, { version: 'v1' }), { code: 'not_found' });
        assert.equal(await bus.blobs.delete(name), true);
        await assert.rejects(bus.blobs.get(name), { code: 'not_found' });
        assert.equal(await bus.blobs.delete(name), false);
        assert.deepEqual(await bus.blobs.list(name), []);
      });
    });

    forgeable(
      'blobs - the store: parts replaced in place, uploads unlisted until committed, deletes scoped to one name',
      async () => {
        await withBus(factory, async (_bus, store) => {
          const name = blobName('st');
          const a = randomBytes(100);
          const b = randomBytes(200);
          assert.equal(await store.getPart(`${name}@v1`, 0), undefined);
          assert.deepEqual(await store.storedParts(`${name}@v1`), new Map());
          await store.putPart(`${name}@v1`, 0, a, sum(a));
          await store.putPart(`${name}@v1`, 3, a, sum(a));
          await store.putPart(`${name}@v1`, 0, b, sum(b));
          assert.deepEqual(await store.getPart(`${name}@v1`, 0), new Uint8Array(b));
          assert.deepEqual(
            await store.storedParts(`${name}@v1`),
            new Map([
              [0, sum(b)],
              [3, sum(a)],
            ]),
          );
          assert.deepEqual(await store.list(name), [], 'an uncommitted upload is not listed');
          assert.equal(await store.getManifest(name), undefined);
          // Neighbours whose names share a prefix with this one.
          for (const other of [`${name}/sub`, `${name}-x`, `${name}:y`]) {
            await store.putPart(`${other}@v1`, 0, a, sum(a));
            await store.commit(other, 'v1', Buffer.from('{}'));
          }
          await store.commit(name, 'v1', Buffer.from('m1'));
          await store.putPart(`${name}@v2`, 0, a, sum(a));
          assert.deepEqual(
            (await store.list(name)).map((l) => l.name),
            [name, `${name}-x`, `${name}/sub`, `${name}:y`].sort(),
          );
          assert.equal(text((await store.getManifest(name, 'v1'))!), 'm1');
          assert.equal(await store.delete(name), true, 'the committed v1 and the upload v2');
          assert.equal(await store.getPart(`${name}@v1`, 0), undefined);
          assert.equal(await store.getPart(`${name}@v2`, 0), undefined);
          for (const other of [`${name}/sub`, `${name}-x`, `${name}:y`]) {
            assert.deepEqual(await store.getPart(`${other}@v1`, 0), new Uint8Array(a), other);
            assert.equal(await store.delete(other, 'v1'), true);
          }
          assert.deepEqual(await store.list(name), []);
          // Deleting an uncommitted upload alone counts as removing something.
          await store.putPart(`${name}@v3`, 0, a, sum(a));
          assert.equal(await store.delete(name, 'v3'), true);
          assert.equal(await store.delete(name, 'v3'), false);
        });
      },
    );

    test('blobs - a put interrupted half way writes only the missing parts when started again', async () => {
      await withBus(factory, async (bus, store) => {
        const name = blobName('resume');
        const data = randomBytes(10 * PART);
        const abort = new AbortController();
        let written = 0;
        await assert.rejects(
          bus.blobs.put(name, pieces(data, PART), {
            version: 'v1',
            partBytes: PART,
            concurrency: 1,
            signal: abort.signal,
            onProgress: (p) => {
              if (p.moved) written += 1;
              if (written === 4) abort.abort();
            },
          }),
          { code: 'cancelled' },
        );
        await assert.rejects(bus.blobs.stat(name), { code: 'not_found' }, 'not committed');
        const held = await store.storedParts(`${name}@v1`);
        assert.ok(held.size >= 4, `held ${held.size}`);
        let moved = 0;
        let skipped = 0;
        await bus.blobs.put(name, data, {
          version: 'v1',
          partBytes: PART,
          onProgress: (p) => (p.moved ? moved++ : skipped++),
        });
        assert.equal(skipped, held.size);
        assert.equal(moved, 10 - held.size);
        assert.equal(sum(await bus.blobs.get(name)), sum(data));
        await bus.blobs.delete(name);
      });
    });

    forgeable(
      'blobs - a part changed in the store is chunk_corrupt, a part gone is chunk_missing',
      async () => {
        await withBus(factory, async (bus, store) => {
          const name = blobName('bad');
          const data = randomBytes(3 * PART);
          const m = await bus.blobs.put(name, data, { version: 'v1', partBytes: PART });
          const forged = randomBytes(PART);
          // The store keeps what it is given; the reader checks it against the manifest.
          await store.putPart(`${name}@v1`, 1, forged, m.parts[1]!);
          await assert.rejects(bus.blobs.get(name), { code: 'chunk_corrupt' });
          const short = data.subarray(PART, PART + 100);
          await store.putPart(`${name}@v1`, 1, short, m.parts[1]!);
          await assert.rejects(bus.blobs.get(name), { code: 'chunk_corrupt' });
          const other = blobName('bad');
          await store.commit(other, 'v1', Buffer.from(JSON.stringify({ ...m, name: other })));
          await assert.rejects(bus.blobs.get(other), { code: 'chunk_missing' });
          await bus.blobs.delete(name);
          await bus.blobs.delete(other);
        });
      },
    );

    test('blobs - every bad argument to the store gets config_invalid', async () => {
      await withBus(factory, async (_bus, store) => {
        for (const [what, call, code] of BAD_CALLS) {
          await assert.rejects(call(store), { code }, what);
        }
        if (Number.isFinite(store.maxPartBytes)) {
          const big = new Uint8Array(store.maxPartBytes + 1);
          await assert.rejects(store.putPart('x@v1', 0, big, sum(big)), {
            code: 'payload_too_large',
          });
        }
      });
    });

    test('blobs - every store method rejects with closed once the transport is closed', async () => {
      const transport = await factory.create();
      const store = storeOf(transport);
      await transport.close();
      const one = new Uint8Array(1);
      const calls: [string, () => Promise<unknown>][] = [
        ['putPart', () => store.putPart('x@v1', 0, one, sum(one))],
        ['getPart', () => store.getPart('x@v1', 0)],
        ['storedParts', () => store.storedParts('x@v1')],
        ['commit', () => store.commit('x', 'v1', one)],
        ['getManifest', () => store.getManifest('x')],
        ['list', () => store.list()],
        ['delete', () => store.delete('x')],
      ];
      for (const [what, call] of calls) await assert.rejects(call(), { code: 'closed' }, what);
    });

    if (factory.pair !== undefined) {
      const pair = factory.pair;
      test('blobs - parts and manifests outlive the transport that wrote them', async () => {
        const [first, second] = await pair();
        const name = blobName('durable');
        const data = randomBytes(4 * PART + 3);
        try {
          const store = storeOf(first);
          const writer = createBus({ transport: first, onError: () => undefined });
          await writer.ready;
          const m = await writer.blobs.put(name, data, { version: 'v1', partBytes: PART });
          // Half an upload of v2: two parts, no commit.
          await store.putPart(`${name}@v2`, 0, data.subarray(0, PART), m.parts[0]!);
          await store.putPart(`${name}@v2`, 1, data.subarray(PART, 2 * PART), m.parts[1]!);
          await writer.close();
          await first.close();

          const reader = createBus({ transport: second, onError: () => undefined });
          await reader.ready;
          assert.deepEqual(await reader.blobs.stat(name), m);
          assert.equal(sum(await reader.blobs.get(name)), sum(data));
          let moved = 0;
          await reader.blobs.put(name, data, {
            version: 'v2',
            partBytes: PART,
            onProgress: (p) => (p.moved ? moved++ : 0),
          });
          assert.equal(moved, 3, 'only the three parts the first transport had not stored');
          assert.deepEqual(
            (await reader.blobs.list(name)).map((e) => e.versions),
            [['v1', 'v2']],
          );
          await reader.blobs.delete(name);
          await reader.close();
        } finally {
          await first.close();
          await second.close();
        }
      });
    }
  });
}

async function withNoStore(factory: TransportFactory): Promise<void> {
  const transport = await factory.create();
  const bus = createBus({ transport, onError: () => undefined });
  try {
    await bus.ready;
    assert.equal(typeof transport.blobs, 'undefined');
    for (const call of [
      () => bus.blobs.put('x', new Uint8Array(1)),
      () => bus.blobs.stat('x'),
      () => bus.blobs.list(),
    ]) {
      await assert.rejects(call(), (err: Error & { code?: string }) => {
        // It looks for a blob service over the bus; none serves this one.
        assert.equal(err.code, 'unavailable');
        assert.match(err.message, new RegExp(`the ${transport.name} transport keeps no blobs`));
        assert.match(err.message, /createBus\(\{[^}]*blobs/);
        return true;
      });
    }
  } finally {
    await bus.close();
    await transport.close();
  }
}
