// Every conformance suite, for one transport factory.
import { blobsSuite } from './blobs.js';
import { coalesceSuite } from './coalesce.js';
import type { TransportFactory } from './harness.js';
import { pubsubSuite } from './pubsub.js';
import { queueArgumentsSuite } from './queue-arguments.js';
import { queuePoliciesSuite } from './queue-policies.js';
import { queueSuite } from './queue.js';
import { recordsSuite } from './records.js';
import { requestSuite } from './request.js';
import { streamSuite } from './stream.js';

export type { TransportFactory } from './harness.js';

export function runConformance(factory: TransportFactory): void {
  pubsubSuite(factory);
  requestSuite(factory);
  streamSuite(factory);
  coalesceSuite(factory);
  queueSuite(factory);
  queuePoliciesSuite(factory);
  queueArgumentsSuite(factory);
  recordsSuite(factory);
  blobsSuite(factory);
}
