// Blobs across processes' buses: a WebSocket peer of a hub, whose transport keeps no blobs,
// reads and writes the store of the process behind the hub through its blob service; the hub's
// role defaults decide who may (workers read, operators read and write, clients and observers
// neither), and a refused call fails at once with `forbidden`.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus, remoteBlobStore, serveBlobs, BLOB_SUBJECTS } from '../../src/bus/index.js';
import { markBinaryBody } from '../../src/codec/binary-body.js';
import { createCodec } from '../../src/codec/codec.js';
import { peerIdentity, type Identity } from '../../src/llm/security/roles.js';
import {
  ChunkCorruptError,
  ForbiddenError,
  InvalidMessageError,
  NotFoundError,
  UnavailableError,
  createEnvelope,
} from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import { createBusHub } from '../../src/transport/ws/hub.js';
import { blobsSuite } from '../conformance/blobs.js';
import { startHub } from '../transport/ws-harness.js';

const KiB = 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const IDENTITIES: Record<string, Identity> = {
  'tok-op': { name: 'op', role: 'operator' },
  'tok-w': { name: 'w1', role: 'worker' },
  'tok-c': { name: 'acme', role: 'client' },
  'tok-o': { name: 'watch', role: 'observer' },
};

async function served(options: { identities?: boolean } = {}) {
  const fx = await startHub(
    options.identities === true
      ? {
          authenticate: (token) => {
            const identity = token === undefined ? undefined : IDENTITIES[token];
            return identity === undefined ? undefined : peerIdentity(identity);
          },
        }
      : {},
  );
  const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
  const store = fx.local.blobs!();
  const service = serveBlobs(host, store);
  await service.ready;
  return {
    fx,
    host,
    store,
    async [Symbol.asyncDispose]() {
      service.close();
      await host.close();
      await fx[Symbol.asyncDispose]();
    },
  };
}

describe('blob service', () => {
  test('a hub peer puts, stats, lists, reads and deletes blobs in the store behind the hub', async () => {
    await using s = await served();
    const peer = await s.fx.remoteBus('peer');
    assert.equal(peer.blobs.store.kind, 'bus service');
    const data = randomBytes(700 * KiB + 3);
    const moved: boolean[] = [];
    const manifest = await peer.blobs.put('models/a', data, {
      version: 'v1',
      partBytes: 64 * KiB,
      onProgress: (p) => moved.push(p.moved),
    });
    assert.equal(manifest.parts.length, 11);
    assert.equal(moved.filter(Boolean).length, 11);
    // In the host's own store, as written.
    assert.equal(sha(await s.host.blobs.get('models/a')), sha(data));
    assert.deepEqual((await peer.blobs.stat('models/a')).sum, manifest.sum);
    assert.equal(sha(await peer.blobs.get('models/a')), sha(data));
    const listed = await peer.blobs.list('models/');
    assert.deepEqual(
      listed.map((e) => [e.name, e.versions]),
      [['models/a', ['v1']]],
    );
    // Putting it again moves nothing: the service says which parts it holds.
    const again: boolean[] = [];
    await peer.blobs.put('models/a', data, {
      version: 'v1',
      partBytes: 64 * KiB,
      onProgress: (p) => again.push(p.moved),
    });
    assert.deepEqual(again, new Array(11).fill(false));
    assert.equal(await peer.blobs.delete('models/a'), true);
    await assert.rejects(peer.blobs.stat('models/a'), NotFoundError);
    assert.equal(await peer.blobs.delete('models/a'), false);
  });

  test('getFile over the bus resumes from its part file and fetches only the missing parts', async () => {
    await using s = await served();
    const data = randomBytes(640 * KiB);
    await s.host.blobs.put('data/x', data, { version: 'v1', partBytes: 64 * KiB });
    const peer = await s.fx.remoteBus('peer');
    const dir = mkdtempSync(join(tmpdir(), 'blob-svc-'));
    const out = join(dir, 'x.bin');
    const controller = new AbortController();
    let got = 0;
    await assert.rejects(
      peer.blobs.getFile('data/x', out, {
        concurrency: 1,
        signal: controller.signal,
        onProgress: () => {
          if (++got === 4) controller.abort();
        },
      }),
    );
    const done = await peer.blobs.getFile('data/x', out);
    assert.ok(done.reused >= 3, `reused ${done.reused}`);
    assert.equal(done.fetched + done.reused, 10);
    assert.equal(sha(readFileSync(out)), sha(data));
    rmSync(dir, { recursive: true, force: true });
  });

  test('parts travel as MessagePack frames with their bytes as they are, never compressed', () => {
    const codec = createCodec();
    const bytes = markBinaryBody(Buffer.alloc(256 * KiB, 7)); // would shrink a thousandfold
    const frame = codec.encode(createEnvelope({ kind: 'event', subject: 's', body: bytes }));
    assert.notEqual(frame[0], 0x7b, 'not a JSON frame');
    assert.ok(frame.byteLength > 256 * KiB, `uncompressed (${frame.byteLength} bytes)`);
    const plain = codec.encode(
      createEnvelope({ kind: 'event', subject: 's', body: Buffer.alloc(256 * KiB, 7) }),
    );
    assert.ok(plain.byteLength < 64 * KiB, 'unmarked bytes are still compressed');
    assert.deepEqual(codec.decode(frame).body, bytes);
  });

  test('with no blob service on the bus, a peer gets unavailable saying who serves blobs', async () => {
    await using fx = await startHub();
    const peer = await fx.remoteBus('peer');
    await assert.rejects(peer.blobs.stat('x'), (err: Error) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, /llmwire up/);
      return true;
    });
  });

  test('the service refuses bad input with typed errors and stores nothing of it', async () => {
    await using s = await served();
    const peer = await s.fx.remoteBus('peer');
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.part, { upload: 'x@v1', index: -1 }),
      InvalidMessageError,
    );
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.manifest, { name: '../etc/passwd' }),
      InvalidMessageError,
    );
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.stored, { upload: 'no-version' }),
      InvalidMessageError,
    );
    // A part whose bytes do not match the sum it claims.
    const bytes = randomBytes(1000);
    const wrong = 'sha256:' + createHash('sha256').update('other').digest('base64url');
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.putPart, bytes, {
        headers: { upload: 'x@v1', index: '0', sum: wrong },
      }),
      ChunkCorruptError,
    );
    assert.equal((await s.store.storedParts('x@v1')).size, 0);
    // A manifest that is not one, and a manifest of another blob.
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.commit, Buffer.from('{}'), {
        headers: { name: 'x', version: 'v1' },
      }),
      InvalidMessageError,
    );
    const real = await s.host.blobs.put('y', randomBytes(10), { version: 'v1' });
    await assert.rejects(
      peer.request(BLOB_SUBJECTS.commit, Buffer.from(JSON.stringify(real)), {
        headers: { name: 'x', version: 'v1' },
      }),
      InvalidMessageError,
    );
    assert.equal(await s.store.getManifest('x'), undefined);
    await assert.rejects(
      peer.request(
        BLOB_SUBJECTS.putPart,
        { not: 'bytes' },
        {
          headers: { upload: 'x@v1', index: '0', sum: wrong },
        },
      ),
      InvalidMessageError,
    );
  });
});

describe('blob service - who may', () => {
  test('a worker reads blobs; an operator reads and writes', async () => {
    await using s = await served({ identities: true });
    const operator = await s.fx.remoteBus('op', { token: 'tok-op' });
    const worker = await s.fx.remoteBus('w', { token: 'tok-w' });
    const data = randomBytes(200 * KiB);
    await operator.blobs.put('weights/m', data, { version: 'v1', partBytes: 64 * KiB });
    assert.equal(sha(await worker.blobs.get('weights/m')), sha(data));
    assert.equal((await worker.blobs.list()).length, 1);
    assert.equal(await operator.blobs.delete('weights/m'), true);
  });

  test('a worker writing or deleting a blob gets forbidden, and nothing changes', async () => {
    await using s = await served({ identities: true });
    const worker = await s.fx.remoteBus('w', { token: 'tok-w' });
    await s.host.blobs.put('weights/m', randomBytes(1000), { version: 'v1' });
    await assert.rejects(
      worker.blobs.put('weights/m', randomBytes(1000), { version: 'v2' }),
      ForbiddenError,
    );
    await assert.rejects(worker.blobs.delete('weights/m'), ForbiddenError);
    // Straight at the write subjects, past the blob API.
    await assert.rejects(
      worker.request(BLOB_SUBJECTS.commit, Buffer.from('{}'), {
        headers: { name: 'weights/m', version: 'v9' },
      }),
      ForbiddenError,
    );
    assert.deepEqual(
      (await s.store.list()).map((l) => l.versions),
      [['v1']],
    );
    assert.equal((await s.store.storedParts('weights/m@v2')).size, 0);
  });

  test('a client or an observer reading a blob gets forbidden', async () => {
    await using s = await served({ identities: true });
    await s.host.blobs.put('weights/m', randomBytes(1000), { version: 'v1' });
    for (const token of ['tok-c', 'tok-o']) {
      const peer = await s.fx.remoteBus(token, { token });
      await assert.rejects(peer.blobs.get('weights/m'), ForbiddenError, token);
      await assert.rejects(peer.blobs.list(), ForbiddenError, token);
      await assert.rejects(
        peer.request(BLOB_SUBJECTS.part, { upload: 'weights/m@v1', index: 0 }),
        ForbiddenError,
        token,
      );
      await assert.rejects(peer.blobs.put('evil', randomBytes(10)), ForbiddenError, token);
    }
    assert.deepEqual(
      (await s.store.list()).map((l) => l.name),
      ['weights/m'],
    );
  });
});

// The remote store against the store contract every transport's store passes, unchanged.
blobsSuite({
  name: 'ws + blob service',
  slackMs: 20,
  blobService: true,
  async create() {
    const local = createMemoryTransport();
    const hub = createBusHub(local, { onError: () => undefined });
    await hub.listening;
    const host = createBus({ transport: local, source: 'host', onError: () => undefined });
    const service = serveBlobs(host, local.blobs!());
    await service.ready;
    const client = createWebSocketTransport({ url: hub.url, onError: () => undefined });
    const peer = createBus({ transport: client, source: 'peer', onError: () => undefined });
    await peer.ready;
    const store = remoteBlobStore(peer);
    return {
      name: client.name,
      get maxMessageBytes() {
        return client.maxMessageBytes;
      },
      publish: (env) => client.publish(env),
      subscribe: (pattern, handler, o) => client.subscribe(pattern, handler, o),
      flush: () => client.flush(),
      queue: (name, o) => client.queue(name, o),
      status: () => client.status(),
      blobs: () => store,
      async close() {
        await peer.close();
        await client.close();
        service.close();
        await host.close();
        await hub.close();
        await local.close();
      },
    };
  },
});
