// Who may use the blob store on NATS: operators read and write it, workers only read it, clients
// and observers get none of it. A nats-server of this test's own runs with the authorization
// `llmwire nats-config` writes; each user then tries the blob store through its own NATS
// transport (confined to its reply root) and raw, as an attacker would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { createBus, type Bus } from '../../src/bus/index.js';
import { blobBucket } from '../../src/transport/nats/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { publishRefused, startConfinedNats } from './confined-nats.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { NatsServerProcess, tempDir } from '../transport/fixtures/nats-server.js';

const KEYS = {
  'tenant-a': 'tenant-a-key-0123456789',
  'gpu-1': 'gpu-1-key-0123456789abc',
  ops: 'ops-key-0123456789abcdef',
  watcher: 'watcher-key-0123456789ab',
} as const;
type User = keyof typeof KEYS;
const BUCKET = blobBucket('LLMWIRE');
const STREAM = `OBJ_${BUCKET}`;

if (await requires('nats blob grants', NEEDS.natsServer)) {
  const dir = tempDir('llmwire-nats-blobs-');
  let server: NatsServerProcess;
  let port = 0;
  const closers: (() => Promise<unknown>)[] = [];
  const data = randomBytes(300 * 1024);

  /** A bus on a NATS transport as `user`, with the reply root its grants give it. */
  async function busAs(user: User): Promise<{ bus: Bus; transport: Transport }> {
    const transport = await createNatsTransport({
      servers: `nats://127.0.0.1:${port}`,
      credentials: { user, password: KEYS[user] },
      inboxPrefix: `_INBOX.${user}`,
      requestTimeoutMs: 2000,
      onError: () => undefined,
    });
    const bus = createBus({ transport, onError: () => undefined });
    closers.push(
      () => bus.close(),
      () => transport.close(),
    );
    return { bus, transport };
  }

  /** A raw connection as `user`, recording the errors the server reports to it. */
  async function rawAs(user: User): Promise<{ nc: NatsConnection; errors: Error[] }> {
    const nc = await connect({
      servers: `127.0.0.1:${port}`,
      user,
      pass: KEYS[user],
      inboxPrefix: `_INBOX.${user}`,
    });
    closers.push(() => nc.close());
    const errors: Error[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
    })();
    return { nc, errors };
  }

  async function refusedPublish(user: User, subject: string): Promise<void> {
    const { nc, errors } = await rawAs(user);
    nc.publish(subject, new Uint8Array([1]));
    await publishRefused(errors, subject);
  }

  before(async () => {
    ({ server, port } = await startConfinedNats(dir.path, [
      { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'] },
      { name: 'gpu-1', role: 'worker', key: KEYS['gpu-1'] },
      { name: 'ops', role: 'operator', key: KEYS.ops },
      { name: 'watcher', role: 'observer', key: KEYS.watcher },
    ]));
    // Before any blob is written the bucket does not exist: a worker, which may not make it,
    // finds nothing; a client is refused.
    const { bus: early } = await busAs('gpu-1');
    await assert.rejects(early.blobs.stat('params/m1'), { code: 'not_found' });
    assert.deepEqual(await early.blobs.list(), []);
    await assert.rejects(early.blobs.put('params/m1', data), { code: 'forbidden' });
    const { bus: client } = await busAs('tenant-a');
    await assert.rejects(client.blobs.stat('params/m1'), { code: 'forbidden' });
    // The operator publishes a blob for the others to try.
    const { bus } = await busAs('ops');
    await bus.blobs.put('params/m1', data, { version: 'v1', partBytes: 64 * 1024 });
  });

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await server?.kill();
    dir[Symbol.dispose]();
  });

  test('nats grants - an operator writes, lists and deletes blobs', async () => {
    const { bus } = await busAs('ops');
    await bus.blobs.put('scratch', Buffer.from('x'.repeat(100)), { version: 'a' });
    assert.deepEqual(
      (await bus.blobs.list()).map((e) => e.name),
      ['params/m1', 'scratch'],
    );
    assert.equal(await bus.blobs.delete('scratch'), true);
  });

  test('nats grants - a worker reads a blob, its manifest and the listing', async () => {
    const { bus } = await busAs('gpu-1');
    assert.deepEqual(Buffer.from(await bus.blobs.get('params/m1')), data);
    assert.equal((await bus.blobs.stat('params/m1')).version, 'v1');
    assert.deepEqual(
      (await bus.blobs.list('params/')).map((e) => e.name),
      ['params/m1'],
    );
  });

  test('nats grants - a worker may not write, replace or delete a blob', async () => {
    const { bus, transport } = await busAs('gpu-1');
    await assert.rejects(bus.blobs.put('params/m1', Buffer.from('forged'), { version: 'v2' }), {
      code: 'forbidden',
    });
    const store = transport.blobs!();
    const forged = Buffer.from('forged');
    const sum = `sha256:${'A'.repeat(43)}`;
    await assert.rejects(store.putPart('params/m1@v1', 0, forged, sum), { code: 'forbidden' });
    await assert.rejects(store.commit('params/m1', 'v9', forged), { code: 'forbidden' });
    await assert.rejects(bus.blobs.delete('params/m1'), { code: 'forbidden' });
    // Raw, past the adapter: the object store's subjects and its purge.
    await refusedPublish('gpu-1', `$O.${BUCKET}.M.cGFydC8`);
    await refusedPublish('gpu-1', `$JS.API.STREAM.PURGE.${STREAM}`);
    // Nothing changed.
    const { bus: ops } = await busAs('ops');
    assert.deepEqual(Buffer.from(await ops.blobs.get('params/m1')), data);
    assert.deepEqual(
      (await ops.blobs.list('params/')).map((e) => e.versions),
      [['v1']],
    );
  });

  for (const user of ['tenant-a', 'watcher'] as const) {
    test(`nats grants - ${user === 'watcher' ? 'an observer' : 'a client'} may neither read nor write blobs`, async () => {
      const { bus } = await busAs(user);
      await assert.rejects(bus.blobs.get('params/m1'), { code: 'forbidden' });
      await assert.rejects(bus.blobs.list(), { code: 'forbidden' });
      await assert.rejects(bus.blobs.put('mine', Buffer.from('x')), { code: 'forbidden' });
      await refusedPublish(user, `$JS.API.STREAM.INFO.${STREAM}`);
      await refusedPublish(user, `$JS.API.CONSUMER.CREATE.${STREAM}`);
      await refusedPublish(user, `$O.${BUCKET}.C.x`);
      const { nc } = await rawAs(user);
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          nc.subscribe(`$O.${BUCKET}.>`, {
            callback: (err) => (err === null ? resolve() : reject(err)),
          });
          setTimeout(resolve, 5000);
        }),
        PermissionViolationError,
      );
    });
  }
}
