// The NATS transport's own contract beyond the conformance suite: what it puts on the wire (a
// codec frame with the id in a header, readable by a plain NATS client), no-responders when the
// requester listens on another connection, connection failures and option checks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { createCodec } from '../../src/codec/codec.js';
import {
  ClosedError,
  ConfigError,
  createEnvelope,
  UnavailableError,
  type Envelope,
} from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { freePort, sleep } from './fixtures/nats-server.js';
import { waitUntil } from '../wait.js';

const eventually = (check: () => boolean, ms = 3000) => waitUntil(check, 'the condition', ms, 5);

describe('nats transport - without a broker', () => {
  test('rejects with UnavailableError when no server answers', async () => {
    const port = await freePort();
    await assert.rejects(
      createNatsTransport({ servers: `nats://127.0.0.1:${port}`, maxReconnectAttempts: 0 }),
      UnavailableError,
    );
  });

  test('refuses bad options with ConfigError before connecting', async () => {
    await assert.rejects(createNatsTransport({ servers: [] }), ConfigError);
    await assert.rejects(
      createNatsTransport({ servers: NATS_URL, streamPrefix: 'has.dot' }),
      ConfigError,
    );
    await assert.rejects(createNatsTransport({ servers: NATS_URL, replicas: 0 }), ConfigError);
  });
});

if (await requires('nats transport', NEEDS.nats)) {
  describe('nats transport - on the wire', () => {
    test('publishes the codec frame as the payload with the envelope id in a header', async () => {
      const transport = await createNatsTransport({ servers: NATS_URL });
      const nc = await connect({ servers: NATS_URL });
      try {
        const got: { id: string | undefined; env: Envelope }[] = [];
        const codec = createCodec();
        nc.subscribe('wire.check', {
          callback: (_err, msg) => {
            got.push({ id: msg.headers?.get('Llmwire-Id'), env: codec.decode(msg.data) });
          },
        });
        await nc.flush();
        const env = createEnvelope({ kind: 'event', subject: 'wire.check', body: { n: 1 } });
        transport.publish(env);
        await eventually(() => got.length === 1);
        assert.equal(got[0]!.id, env.id);
        assert.deepEqual(got[0]!.env.body, { n: 1 });
      } finally {
        await nc.close();
        await transport.close();
      }
    });

    test('no_responders reaches a requester listening on another connection', async () => {
      const requester = await createNatsTransport({ servers: NATS_URL });
      const sender = await createNatsTransport({ servers: NATS_URL });
      try {
        const replies: Envelope[] = [];
        const inbox = requester.subscribe('_INBOX.nrcheck', (e) => void replies.push(e));
        await inbox.ready;
        const req = createEnvelope({
          kind: 'event',
          subject: 'nobody.listens.here',
          replyTo: '_INBOX.nrcheck',
          body: 1,
        });
        sender.publish(req);
        await eventually(() => replies.length === 1);
        assert.equal(replies[0]!.kind, 'error');
        assert.equal(replies[0]!.corr, req.id);
        assert.equal((replies[0]!.body as { code: string }).code, 'no_responders');
      } finally {
        await requester.close();
        await sender.close();
      }
    });

    test('an error message with replyTo never triggers no_responders (no loops)', async () => {
      const transport = await createNatsTransport({ servers: NATS_URL });
      try {
        const replies: Envelope[] = [];
        const inbox = transport.subscribe('_INBOX.noloop', (e) => void replies.push(e));
        await inbox.ready;
        transport.publish(
          createEnvelope({ kind: 'error', subject: 'void.x', replyTo: '_INBOX.noloop', body: {} }),
        );
        await transport.flush();
        await sleep(50);
        assert.deepEqual(replies, []);
      } finally {
        await transport.close();
      }
    });

    test('status yields connecting, connected and, on close, closed', async () => {
      const transport = await createNatsTransport({ servers: NATS_URL });
      const seen: string[] = [];
      const done = (async () => {
        for await (const s of transport.status()) seen.push(s.type);
      })();
      await transport.close();
      await done;
      assert.deepEqual(seen, ['connecting', 'connected', 'closed']);
      assert.throws(
        () => transport.publish(createEnvelope({ kind: 'event', subject: 'a', body: 1 })),
        ClosedError,
      );
    });
  });
}
