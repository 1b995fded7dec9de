// The conformance suite, unchanged, against the amqp transport on a real RabbitMQ. Each test
// gets a transport in a namespace of its own, deleted from the broker when the test closes it.
import { runConformance } from '../conformance/index.js';
import { openTransport, withBroker } from './amqp-harness.js';

await withBroker('amqp transport conformance', () => {
  runConformance({
    name: 'amqp',
    create: () => openTransport(),
    slackMs: 50,
    noRecords: true,
    noBlobs: true,
  });
});
