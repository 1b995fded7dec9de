// Publish/subscribe behaviour specific to the amqp transport: the '>' wildcard against AMQP's
// '#', queue groups shared by several processes, the no-responders rule through basic.return,
// and the limits AMQP puts on subjects.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../../src/bus/index.js';
import { ClosedError, InvalidMessageError, NoRespondersError } from '../../src/protocol/index.js';
import { createAmqpTransport } from '../../src/transport/amqp/index.js';
import { eventually } from '../conformance/harness.js';
import { namespace, openTransport, withBroker } from './amqp-harness.js';

await withBroker('amqp transport pub/sub', () => {
  describe('amqp - pub/sub', () => {
    test("a request to the bare prefix of a '>' subscription gets no_responders", async () => {
      await using t = await openTransport();
      const bus = createBus({ transport: t, onError: () => undefined });
      let served = 0;
      const sub = bus.serve('svc.>', () => ++served);
      await sub.ready;
      assert.equal((await bus.request('svc.a.b', 1)).body, 1);
      // AMQP's '#' would match 'svc' too; llmwire's '>' needs at least one more token, so
      // nothing is bound for it and the broker returns the mandatory request.
      await assert.rejects(bus.request('svc', 1, { timeoutMs: 3000 }), NoRespondersError);
      assert.equal(served, 1);
      await bus.close();
    });

    test('a queue group shared by two transports gives each message to one process', async () => {
      const exchange = namespace();
      await using one = await openTransport({ exchange });
      await using two = await openTransport({ exchange, deleteOnClose: false });
      const buses = [one, two].map((transport) => createBus({ transport }));
      const counts = [0, 0];
      const subs = buses.map((bus, i) =>
        bus.subscribe('jobs.new', () => void counts[i]!++, { queue: 'workers' }),
      );
      await Promise.all(subs.map((s) => s.ready));
      for (let i = 0; i < 200; i++) buses[0]!.publish('jobs.new', i);
      await eventually(() => counts[0]! + counts[1]! === 200);
      await one.flush();
      await sleep(50);
      assert.equal(counts[0]! + counts[1]!, 200, 'no message went to both');
      assert.ok(
        counts.every((c) => c > 0),
        `both processes took work: ${counts.join(',')}`,
      );
      // When one process leaves, the group's queue stays for the other.
      subs[1]!.unsubscribe();
      await sleep(50);
      for (let i = 0; i < 10; i++) buses[0]!.publish('jobs.new', i);
      await eventually(() => counts[0]! + counts[1]! === 210);
      for (const bus of buses) await bus.close();
    });

    test('a subscriber whose pattern overlaps another gets one copy of each message', async () => {
      await using t = await openTransport();
      const bus = createBus({ transport: t });
      const a: string[] = [];
      const b: string[] = [];
      const s1 = bus.subscribe('m.*', (m) => void a.push(m.subject));
      const s2 = bus.subscribe('m.>', (m) => void b.push(m.subject));
      await Promise.all([s1.ready, s2.ready]);
      bus.publish('m.x', 1);
      bus.publish('m.x.y', 2);
      await eventually(() => b.length === 2);
      await t.flush();
      await sleep(30);
      assert.deepEqual(a, ['m.x']);
      assert.deepEqual(b, ['m.x', 'm.x.y']);
      await bus.close();
    });

    test('refuses a subject longer than an AMQP routing key', async () => {
      await using t = await openTransport();
      const long = Array.from({ length: 40 }, (_, i) => `token${i}`).join('.');
      assert.ok(long.length > 255 && long.length <= 512);
      assert.throws(
        () => t.publish({ v: 1, id: 'x', kind: 'event', subject: long, ts: 0 }),
        InvalidMessageError,
      );
    });

    test('a subscription not yet bound when the transport closes fails with ClosedError', async () => {
      // Nothing listens on port 9: the transport keeps trying to connect until it is closed.
      const t = createAmqpTransport({
        url: 'amqp://guest:guest@127.0.0.1:9',
        onError: () => undefined,
      });
      const sub = t.subscribe('never.bound', () => undefined);
      await t.close();
      await assert.rejects(sub.ready, ClosedError);
      await assert.rejects(t.ready, ClosedError);
      assert.throws(
        () => t.publish({ v: 1, id: 'x', kind: 'event', subject: 'a', ts: 0 }),
        ClosedError,
      );
    });

    test('reports connected on status and ends with closed', async () => {
      const t = await openTransport();
      await t.close();
      const seen: string[] = [];
      for await (const s of t.status()) seen.push(s.type);
      assert.deepEqual(seen, ['connecting', 'connected', 'closed']);
    });
  });
});
