// `llmwire tail` as a child process on real brokers: a message published after it reports it is
// tailing shows up on stdout with its kind, id and subject, wildcards included.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { openTransport } from '../../src/cli/runtime.js';
import { createEnvelope } from '../../src/protocol/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { AMQP_URL, NATS_URL, NEEDS, REDIS_URL, requires } from '../helpers/requires.js';
import { openTransport as openAmqp } from '../transport/amqp-harness.js';
import { Background } from './helpers.js';

/** The test's side of the broker: the amqp one deletes the exchange it declared when closed. */
type Opener = (url: string) => Promise<Transport>;
const plain: Opener = (url) => openTransport(url, { dataDir: '.llmwire' });
const brokers: { name: string; url: string; open: Opener }[] = [];
if (await requires('cli tail on nats', NEEDS.nats))
  brokers.push({ name: 'nats', url: NATS_URL, open: plain });
if (await requires('cli tail on redis', NEEDS.redis)) {
  brokers.push({
    name: 'redis',
    url: `${REDIS_URL}?prefix=lwtail${randomBytes(4).toString('hex')}:`,
    open: plain,
  });
}
if (await requires('cli tail on amqp', NEEDS.amqp)) {
  const exchange = `lwtail${randomBytes(4).toString('hex')}`;
  brokers.push({
    name: 'amqp',
    url: `${AMQP_URL}?exchange=${exchange}`,
    open: () => openAmqp({ exchange }),
  });
}

for (const broker of brokers) {
  describe(`cli tail on ${broker.name}`, () => {
    test(`tail - prints a message published on a matching subject (${broker.name})`, async () => {
      const root = `clitail${randomBytes(4).toString('hex')}`;
      await using tail = new Background([
        'tail',
        `${root}.*.events`,
        '--transport',
        broker.url,
        '--count',
        '2',
      ]);
      await tail.until(/tailing /);
      assert.match(tail.stderr, /connected to /);
      const transport = await broker.open(broker.url);
      try {
        const other = createEnvelope({ kind: 'event', subject: `${root}.a.other`, body: 0 });
        const first = createEnvelope({
          kind: 'event',
          subject: `${root}.a.events`,
          body: { text: 'hello\nthere' },
        });
        const second = createEnvelope({
          kind: 'metric',
          subject: `${root}.b.events`,
          body: { name: 'queue_depth', value: 3, type: 'gauge' },
        });
        transport.publish(other);
        transport.publish(first);
        transport.publish(second);
        await transport.flush();
        const r = await tail.done;
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split('\n');
        assert.equal(lines.length, 2, r.stdout);
        assert.match(
          lines[0]!,
          new RegExp(
            `event\\s+${first.id}\\s+${root}\\.a\\.events\\s+\\{"text":"hello\\\\nthere"\\}`,
          ),
        );
        assert.match(
          lines[1]!,
          new RegExp(`metric\\s+${second.id}\\s+${root}\\.b\\.events\\s+.*queue_depth`),
        );
        assert.doesNotMatch(r.stdout, new RegExp(other.id));
        assert.match(r.stderr, /2 messages/);
      } finally {
        await transport.close();
      }
    });

    test(`tail --json - one envelope per line (${broker.name})`, async () => {
      const subject = `clitail${randomBytes(4).toString('hex')}.json`;
      await using tail = new Background([
        'tail',
        `${subject.split('.')[0]}.>`,
        '--transport',
        broker.url,
        '--count',
        '1',
        '--json',
      ]);
      await tail.until(/tailing /);
      const transport = await broker.open(broker.url);
      try {
        const env = createEnvelope({ kind: 'event', subject, body: { n: 7 } });
        transport.publish(env);
        await transport.flush();
        const r = await tail.done;
        assert.equal(r.code, 0, r.stderr);
        const got = JSON.parse(r.stdout) as { id: string; subject: string; body: unknown };
        assert.equal(got.id, env.id);
        assert.equal(got.subject, subject);
        assert.deepEqual(got.body, { n: 7 });
      } finally {
        await transport.close();
      }
    });
  });
}
