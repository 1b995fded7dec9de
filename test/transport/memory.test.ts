// The memory transport against the conformance suite, plain and with every message round-tripped
// through each wire encoding.
import { createCodec } from '../../src/codec/codec.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { runConformance } from '../conformance/index.js';

runConformance({ name: 'memory', create: async () => createMemoryTransport() });
runConformance({
  name: 'memory+json',
  create: async () => createMemoryTransport({ codec: createCodec({ encoding: 'json' }) }),
});
runConformance({
  name: 'memory+msgpack',
  create: async () => createMemoryTransport({ codec: createCodec({ encoding: 'msgpack' }) }),
});
