// The redis blob store under Redis ACLs (docs/protocol.md, "Blob stores": an ACL granting
// `<prefix>b:*` grants the blobs): a user that may only read those keys reads a blob but may
// not write or delete one, and a user granted only other keys of the prefix gets none of it;
// each refusal is `forbidden`, and the blob is unchanged.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { filePrefix, rawClient, REDIS_URL, redisAvailable } from './redis-harness.js';

if (await redisAvailable('redis blob ACLs')) {
  const prefix = filePrefix();
  const run = randomBytes(4).toString('hex');
  const users = { reader: `llmwire-blob-reader-${run}`, other: `llmwire-blob-other-${run}` };
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const open: (() => Promise<unknown>)[] = [];
  const data = randomBytes(200 * 1024);

  async function busAs(user?: string): Promise<{ bus: Bus; transport: Transport }> {
    const url = new URL(REDIS_URL);
    if (user !== undefined) [url.username, url.password] = [user, password];
    const transport = createRedisTransport({ url: url.toString(), prefix, reconnect: false });
    const bus = createBus({ transport, onError: () => undefined });
    open.push(
      () => bus.close(),
      () => transport.close(),
    );
    await bus.ready;
    return { bus, transport };
  }

  before(async () => {
    const admin = rawClient();
    await admin.connect();
    try {
      // Every command but writes, on the blob keys only; channels of the prefix (the bus's inbox).
      await admin.acl(
        'SETUSER',
        users.reader,
        'on',
        `>${password}`,
        'resetkeys',
        `~${prefix}b:*`,
        'resetchannels',
        `&${prefix}*`,
        '+@all',
        '-@write',
        '-@admin',
        '-@dangerous',
        '+client|setname',
        '+info',
        '+publish',
      );
      await admin.acl(
        'SETUSER',
        users.other,
        'on',
        `>${password}`,
        'resetkeys',
        `~${prefix}q:*`,
        `~${prefix}r:*`,
        'resetchannels',
        `&${prefix}*`,
        '+@all',
        '-@admin',
        '-@dangerous',
        '+client|setname',
        '+info',
      );
    } finally {
      admin.disconnect();
    }
    const { bus } = await busAs();
    await bus.blobs.put('params/m1', data, { version: 'v1', partBytes: 64 * 1024 });
  });

  after(async () => {
    for (const close of open.reverse()) await close().catch(() => undefined);
    const admin = rawClient();
    await admin.connect();
    await admin.acl('DELUSER', users.reader, users.other);
    admin.disconnect();
  });

  test('redis blobs - a user granted reads of <prefix>b:* reads a blob and may not write one', async () => {
    const { bus, transport } = await busAs(users.reader);
    assert.deepEqual(Buffer.from(await bus.blobs.get('params/m1')), data);
    assert.deepEqual(
      (await bus.blobs.list()).map((e) => e.name),
      ['params/m1'],
    );
    await assert.rejects(bus.blobs.put('params/m1', Buffer.from('forged'), { version: 'v2' }), {
      code: 'forbidden',
    });
    const forged = Buffer.from('forged');
    await assert.rejects(
      transport.blobs!().putPart('params/m1@v1', 0, forged, `sha256:${'A'.repeat(43)}`),
      { code: 'forbidden' },
    );
    await assert.rejects(bus.blobs.delete('params/m1'), { code: 'forbidden' });
    const { bus: admin } = await busAs();
    assert.deepEqual(Buffer.from(await admin.blobs.get('params/m1')), data);
    assert.deepEqual(
      (await admin.blobs.list()).map((e) => e.versions),
      [['v1']],
    );
  });

  test('redis blobs - a user granted other keys of the prefix gets no blob', async () => {
    const { bus } = await busAs(users.other);
    await assert.rejects(bus.blobs.get('params/m1'), { code: 'forbidden' });
    await assert.rejects(bus.blobs.list(), { code: 'forbidden' });
    await assert.rejects(bus.blobs.put('mine', Buffer.from('x')), { code: 'forbidden' });
  });
}
