// The NATS transport against the conformance suite, unchanged, on the shared broker
// (LLMWIRE_NATS_URL or nats://127.0.0.1:4222, JetStream enabled). Streams made by this run carry
// a per-run prefix and are deleted at the end.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { createCodec } from '../../src/codec/codec.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { runConformance } from '../conformance/index.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams } from './fixtures/nats-server.js';

const prefix = `T${randomBytes(4).toString('hex')}`;

if (await requires('nats conformance', NEEDS.nats)) {
  after(() => deleteStreams(NATS_URL, prefix));
  const quiet = { onError: () => undefined };
  runConformance({
    name: 'nats',
    create: () => createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, ...quiet }),
    pair: async () => [
      await createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, ...quiet }),
      await createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, ...quiet }),
    ],
    slackMs: 20,
  });
  runConformance({
    name: 'nats+json',
    create: () =>
      createNatsTransport({
        servers: NATS_URL,
        streamPrefix: prefix,
        codec: createCodec({ encoding: 'json' }),
        ...quiet,
      }),
    slackMs: 20,
  });
}
