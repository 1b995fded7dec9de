// The WebSocket client transport against the conformance suite, unchanged: each test gets its own
// memory bus behind a hub on a free loopback port, and a client transport joined to it.
import { createCodec } from '../../src/codec/codec.js';
import { runConformance } from '../conformance/index.js';
import { createHubbedTransport } from './ws-harness.js';

runConformance({
  name: 'ws',
  create: () => createHubbedTransport(),
  slackMs: 20,
  noRecords: true,
  noBlobs: true,
});
runConformance({
  name: 'ws+msgpack',
  create: () => createHubbedTransport(createCodec({ encoding: 'msgpack' })),
  slackMs: 20,
  noRecords: true,
  noBlobs: true,
});
