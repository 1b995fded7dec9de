// Messages above the server's max_payload on the NATS transport: a test-owned nats-server with a
// 64 KiB max_payload carries 1 MiB messages chunked, to every plain subscriber, to exactly one
// member of a queue group, as request and as reply; and a durable enqueue that big is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import {
  createEnvelope,
  NoRespondersError,
  PayloadTooLargeError,
  type Envelope,
} from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess, sleep, tempDir } from './fixtures/nats-server.js';
import { waitUntil } from '../wait.js';

const MIB = 1024 * 1024;

const eventually = (check: () => boolean, ms = 5000) => waitUntil(check, 'the condition', ms, 5);

if (await requires('nats chunking', NEEDS.natsServer)) {
  describe('nats transport - payloads above max_payload', () => {
    const dir = tempDir('llmwire-nats-chunk-');
    let server: NatsServerProcess;
    let a: Transport;
    let b: Transport;

    before(async () => {
      server = await new NatsServerProcess({
        port: await freePort(),
        storeDir: dir.path,
        config: ['max_payload: 65536'],
      }).start();
      a = await createNatsTransport({ servers: server.url, onError: () => undefined });
      b = await createNatsTransport({ servers: server.url, onError: () => undefined });
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await server?.kill();
      dir[Symbol.dispose]();
    });

    test('a 1 MiB message reaches every subscriber whole', async () => {
      const body = new Uint8Array(randomBytes(MIB));
      const got: Envelope[] = [];
      const subs = [
        a.subscribe('big.fanout', (env) => void got.push(env)),
        b.subscribe('big.fanout', (env) => void got.push(env)),
        b.subscribe('big.*', (env) => void got.push(env)),
      ];
      await Promise.all(subs.map((s) => s.ready));
      const env = createEnvelope({ kind: 'event', subject: 'big.fanout', body });
      a.publish(env);
      await eventually(() => got.length === 3);
      for (const m of got) {
        assert.equal(m.id, env.id);
        assert.ok(Buffer.from(m.body as Uint8Array).equals(Buffer.from(body)), 'body intact');
      }
      for (const s of subs) s.unsubscribe();
    });

    test('a queue group gets each large message whole at exactly one member', async () => {
      const ids: string[] = [];
      const sizes = new Set<number>();
      const subs = [a, b, b].map((t) =>
        t.subscribe(
          'big.group',
          (env) => {
            ids.push(env.id);
            sizes.add((env.body as Uint8Array).byteLength);
          },
          { queue: 'workers' },
        ),
      );
      await Promise.all(subs.map((s) => s.ready));
      const sent = [];
      for (let i = 0; i < 6; i++) {
        const env = createEnvelope({
          kind: 'event',
          subject: 'big.group',
          body: new Uint8Array(randomBytes(MIB)),
        });
        sent.push(env.id);
        b.publish(env);
      }
      await eventually(() => ids.length === 6, 10_000);
      await sleep(100); // nothing more arrives: no member got a second copy
      assert.deepEqual([...ids].sort(), [...sent].sort());
      assert.deepEqual([...sizes], [MIB]);
      for (const s of subs) s.unsubscribe();
    });

    test('request and reply of 1 MiB each, and no responders for a large request', async () => {
      const client = createBus({ transport: a, source: 'client', onError: () => undefined });
      const server = createBus({ transport: b, source: 'server', onError: () => undefined });
      await Promise.all([client.ready, server.ready]);
      const sub = server.serve('big.echo', (req) => {
        const bytes = req.body as Uint8Array;
        return new Uint8Array(bytes).reverse();
      });
      await sub.ready;
      const body = new Uint8Array(randomBytes(MIB));
      const reply = await client.request<Uint8Array>('big.echo', body, { timeoutMs: 10_000 });
      assert.ok(Buffer.from(reply.body).equals(Buffer.from(new Uint8Array(body).reverse())));
      const started = Date.now();
      await assert.rejects(
        client.request('big.nobody', body, { timeoutMs: 10_000 }),
        NoRespondersError,
      );
      assert.ok(Date.now() - started < 5000, 'no responders came back before the deadline');
      await client.close();
      await server.close();
    });

    test('a durable enqueue above max_payload is refused with PayloadTooLargeError', async () => {
      const q = a.queue('bigq');
      const env = createEnvelope({
        kind: 'event',
        subject: 'bigq',
        body: new Uint8Array(randomBytes(MIB)),
      });
      await assert.rejects(q.enqueue(env), PayloadTooLargeError);
      const small = createEnvelope({ kind: 'event', subject: 'bigq', body: 'ok' });
      assert.equal((await q.enqueue(small)).duplicate, false);
    });
  });
}
