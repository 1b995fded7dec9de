// The redis transport against the conformance suite, unchanged, on the Redis at
// LLMWIRE_REDIS_URL (default redis://127.0.0.1:6379); every key it makes is removed afterwards.
import { createCodec } from '../../src/codec/codec.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import { runConformance } from '../conformance/index.js';
import { filePrefix, REDIS_URL, redisAvailable } from './redis-harness.js';

if (await redisAvailable('redis transport conformance')) {
  const prefix = filePrefix();
  runConformance({
    name: 'redis',
    create: async () => createRedisTransport({ url: REDIS_URL, prefix }),
    pair: async () => [
      createRedisTransport({ url: REDIS_URL, prefix }),
      createRedisTransport({ url: REDIS_URL, prefix }),
    ],
    slackMs: 20,
  });
  runConformance({
    name: 'redis+json',
    create: async () =>
      createRedisTransport({ url: REDIS_URL, prefix, codec: createCodec({ encoding: 'json' }) }),
    slackMs: 20,
  });
}
