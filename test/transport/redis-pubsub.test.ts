// Publish/subscribe on the redis transport beyond the conformance suite: glob escaping, the
// limit of no_responders with glob over-matches, queue groups spread across processes (one
// transport stands for one process) with exactly one delivery each, takeover when the chosen
// process is gone, status, and refusals.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBus } from '../../src/bus/index.js';
import {
  ClosedError,
  ConfigError,
  createEnvelope,
  DeadlineExceededError,
  type Envelope,
} from '../../src/protocol/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import type { TransportStatus } from '../../src/transport/transport.js';
import { eventually, unique } from '../conformance/harness.js';
import {
  filePrefix,
  killConnections,
  openRedis,
  REDIS_URL,
  redisAvailable,
} from './redis-harness.js';

function event(subject: string, body: unknown = null): Envelope {
  return createEnvelope({ kind: 'event', subject, body });
}

if (await redisAvailable('redis transport pub/sub')) {
  const prefix = filePrefix();

  describe('redis transport - pub/sub', () => {
    test('glob characters in subject tokens match only themselves', async () => {
      await using t = openRedis(prefix);
      const root = unique('glob');
      const got: string[] = [];
      const subs = [
        t.subscribe(`${root}.a?c.*`, (env) => void got.push(env.subject)),
        t.subscribe(`${root}.[x].>`, (env) => void got.push(env.subject)),
        t.subscribe(`${root}.b\\d`, (env) => void got.push(env.subject)),
      ];
      await Promise.all(subs.map((s) => s.ready));
      const wanted = [`${root}.a?c.1`, `${root}.[x].y.z`, `${root}.b\\d`];
      for (const s of [`${root}.abc.1`, `${root}.x.y.z`, `${root}.bd`, ...wanted]) {
        t.publish(event(s));
      }
      await t.flush();
      assert.deepEqual(got.sort(), wanted.sort());
    });

    test('a request whose only receivers are glob over-matches fails by its deadline', async () => {
      // Glob '*' crosses dots, so '<root>.*.z' is also subscribed for '<root>.x.y.z'. PUBLISH
      // counts that receiver, which then drops the message: no fast no_responders here.
      await using t = openRedis(prefix);
      const bus = createBus({ transport: t, onError: () => undefined });
      const root = unique('over');
      const sub = t.subscribe(`${root}.*.z`, () => assert.fail('not a match'));
      await Promise.all([bus.ready, sub.ready]);
      await assert.rejects(
        bus.request(`${root}.x.y.z`, 1, { timeoutMs: 200 }),
        DeadlineExceededError,
      );
      await bus.close();
    });

    test('a queue group spreads messages over processes, each to exactly one member', async () => {
      await using a = openRedis(prefix);
      await using b = openRedis(prefix);
      await using publisher = openRedis(prefix);
      const subject = unique('spread');
      const seen = new Map<string, string>();
      const member = (who: string) => (env: Envelope) => {
        assert.equal(seen.has(env.id), false, `${env.id} delivered twice`);
        seen.set(env.id, who);
      };
      const subs = [
        a.subscribe(subject, member('a'), { queue: 'workers' }),
        b.subscribe(subject, member('b1'), { queue: 'workers' }),
        b.subscribe(subject, member('b2'), { queue: 'workers' }),
      ];
      await Promise.all(subs.map((s) => s.ready));
      for (let i = 0; i < 60; i++) {
        publisher.publish(event(subject, i));
        await sleep(2);
      }
      await eventually(() => seen.size === 60);
      await sleep(150); // a second delivery would show up within the takeover delay
      assert.equal(seen.size, 60);
      const count = (p: string) => [...seen.values()].filter((w) => w.startsWith(p)).length;
      assert.ok(count('a') >= 15 && count('b') >= 15, `a: ${count('a')}, b: ${count('b')}`);
      assert.ok(count('b1') > 0 && count('b2') > 0, 'members within a process take turns');
    });

    test('messages chosen for a process that died are taken over by the others', async () => {
      await using a = openRedis(prefix, { groupTakeoverMs: 40 });
      const bName = unique('doomed');
      await using b = openRedis(prefix, { groupTakeoverMs: 40, name: bName, reconnect: false });
      await using publisher = openRedis(prefix);
      const subject = unique('takeover');
      const byA = new Map<number, number>(); // message -> ms from publish to delivery
      let byB = 0;
      let twice = 0;
      const onA = (env: Envelope) => {
        if (byA.has(env.body as number)) twice++;
        byA.set(env.body as number, Date.now() - env.ts);
      };
      const subs = [
        a.subscribe(subject, onA, { queue: 'w' }),
        b.subscribe(subject, () => void byB++, { queue: 'w' }),
      ];
      await Promise.all(subs.map((s) => s.ready));
      for (let i = 0; i < 10; i++) publisher.publish(event(subject, i));
      await eventually(() => byA.size + byB === 10);
      assert.ok(byB > 0, 'b took part before it left');
      // A crash, as Redis sees one: b's connections drop and it says no goodbye, so it still
      // counts as a member for a while and some messages are chosen for it.
      assert.equal(await killConnections(bName), 2);
      for (let i = 10; i < 30; i++) publisher.publish(event(subject, i));
      await eventually(() => byA.size + byB === 30, 5_000);
      await sleep(100);
      const late = [...byA].filter(([n]) => n >= 10);
      assert.equal(late.length, 20, 'a delivered every message after b died');
      assert.equal(twice, 0, 'and each once');
      const takenOver = late.filter(([, ms]) => ms >= 35).length;
      assert.ok(takenOver > 0, 'some of them waited out the takeover delay');
    });

    test('status starts connecting, becomes connected, and ends closed', async () => {
      await using t = openRedis(prefix);
      const seen: TransportStatus['type'][] = [];
      const done = (async () => {
        for await (const s of t.status()) seen.push(s.type);
      })();
      await t.flush();
      await eventually(() => seen.includes('connected'));
      await t.close();
      await done;
      assert.deepEqual(seen, ['connecting', 'connected', 'closed']);
    });

    test('publish, subscribe and queue after close throw ClosedError', async () => {
      await using t = openRedis(prefix);
      await t.close();
      await t.close(); // idempotent
      assert.throws(() => t.publish(event('x')), ClosedError);
      assert.throws(() => t.subscribe('x', () => undefined), ClosedError);
      assert.throws(() => t.queue('q'), ClosedError);
      await t.flush(); // nothing to flush
    });

    test('refuses bad options with ConfigError', () => {
      assert.throws(() => createRedisTransport({ url: 'http://127.0.0.1:6379' }), ConfigError);
      assert.throws(() => createRedisTransport({ url: REDIS_URL, prefix: '' }), ConfigError);
      assert.throws(() => createRedisTransport({ url: REDIS_URL, prefix: 'a{b}' }), ConfigError);
      assert.throws(() => createRedisTransport({ url: REDIS_URL, pollMs: 0 }), ConfigError);
      assert.throws(() => createRedisTransport({ url: REDIS_URL, name: 'a b' }), ConfigError);
    });
  });
}
