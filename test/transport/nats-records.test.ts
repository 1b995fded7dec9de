// Record stores on NATS beyond the conformance suite: where they live (a KV bucket per store,
// its max age the store's ttlMs), namespaces, and who may reach them. The last part runs on a
// nats-server of its own with per-user permissions: the grants a gateway user needs for one
// store (docs/protocol.md, "Record stores") are enough, and a user without them is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { ForbiddenError } from '../../src/protocol/index.js';
import { createNatsTransport, recordStoreSubjects } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams, freePort, NatsServerProcess, tempDir } from './fixtures/nats-server.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const quiet = { onError: () => undefined };

if (await requires('nats record stores', NEEDS.nats)) {
  const prefix = `R${randomBytes(4).toString('hex')}`;
  const other = `${prefix}o`;
  after(async () => {
    await deleteStreams(NATS_URL, prefix);
    await deleteStreams(NATS_URL, other);
  });

  describe('nats - record stores on the shared broker', () => {
    test('records - a store is the KV bucket <prefix>_REC_<name>, max age = ttlMs', async () => {
      await using t = await disposable(
        createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, ...quiet }),
      );
      await t.records!('responses', { ttlMs: 60_000 }).put('resp_1', bytes('{}'));
      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(`KV_${prefix}_REC_responses`);
        assert.equal(info.config.max_age, nanos(60_000));
        assert.equal(info.config.max_msgs_per_subject, 1);
        assert.deepEqual(info.config.subjects, [`$KV.${prefix}_REC_responses.>`]);
        assert.equal(info.state.messages, 1);
        // Opening the store with another ttlMs sets the bucket's max age to it.
        await t.records!('responses', { ttlMs: 120_000 }).get('resp_1');
        const updated = await jsm.streams.info(`KV_${prefix}_REC_responses`);
        assert.equal(updated.config.max_age, nanos(120_000));
        await t.records!('responses').get('resp_1');
        assert.equal((await jsm.streams.info(`KV_${prefix}_REC_responses`)).config.max_age, 0);
      } finally {
        await nc.close();
      }
    });

    test('records - stores under another streamPrefix are separate', async () => {
      await using a = await disposable(
        createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, ...quiet }),
      );
      await using b = await disposable(
        createNatsTransport({ servers: NATS_URL, streamPrefix: other, ...quiet }),
      );
      await a.records!('ns').put('k', bytes('a'));
      assert.equal(await b.records!('ns').get('k'), undefined);
      await b.records!('ns').put('k', bytes('b'));
      assert.deepEqual(await a.records!('ns').get('k'), bytes('a'));
    });
  });
}

const GATEWAY_PASSWORD = 'gateway-pw-0123456789';
const CLIENT_PASSWORD = 'client-pw-0123456789';

if (await requires('nats record store permissions', NEEDS.natsServer)) {
  describe('nats - record store permissions', () => {
    test('records - the gateway grants reach a store; a user without them is forbidden', async () => {
      using dir = tempDir('llmwire-nats-records-');
      await using server = await new NatsServerProcess({
        port: await freePort(),
        storeDir: join(dir.path, 'js'),
        config: [
          'authorization {',
          '  users = [',
          `    { user: gw, password: "${GATEWAY_PASSWORD}", permissions: {`,
          `        publish: { allow: ${JSON.stringify(recordStoreSubjects('LLMWIRE', 'responses'))} }`,
          '        subscribe: { allow: ["_INBOX.gw.>"] } } }',
          `    { user: cl, password: "${CLIENT_PASSWORD}", permissions: {`,
          '        publish: { allow: ["llm.>"] }',
          '        subscribe: { allow: ["_INBOX.cl.>"] } } }',
          '  ]',
          '}',
        ],
      }).start();
      const open = (user: string, password: string) =>
        disposable(
          createNatsTransport({
            servers: `nats://${user}:${password}@127.0.0.1:${server.port}`,
            inboxPrefix: `_INBOX.${user}`,
            requestTimeoutMs: 2_000,
            ...quiet,
          }),
        );
      await using gw = await open('gw', GATEWAY_PASSWORD);
      const store = gw.records!('responses', { ttlMs: 3_600_000 });
      await store.put('resp_1', bytes('stored'));
      assert.deepEqual(await store.get('resp_1'), bytes('stored'));
      // Another ttlMs updates the bucket: also within the grants.
      assert.deepEqual(await gw.records!('responses').get('resp_1'), bytes('stored'));
      assert.equal(await store.delete('resp_1'), true);
      await assert.rejects(gw.records!('other').put('k', bytes('x')), (err: unknown) => {
        assert.ok(err instanceof ForbiddenError, String(err));
        return true;
      });

      await using cl = await open('cl', CLIENT_PASSWORD);
      await assert.rejects(cl.records!('responses').get('resp_1'), (err: unknown) => {
        assert.ok(err instanceof ForbiddenError, String(err));
        assert.equal(err.code, 'forbidden');
        return true;
      });
    });
  });
}

async function disposable(
  opening: Promise<Transport>,
): Promise<Transport & { [Symbol.asyncDispose](): Promise<void> }> {
  const t = await opening;
  return Object.assign(t, { [Symbol.asyncDispose]: () => t.close() });
}
