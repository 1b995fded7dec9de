// Conformance: publish/subscribe, wildcards, queue groups, ordering.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidMessageError } from '../../src/protocol/index.js';
import { buses, eventually, unique, type TransportFactory } from './harness.js';

export function pubsubSuite(factory: TransportFactory): void {
  describe(`${factory.name} - pub/sub`, () => {
    test('delivers a message to every subscriber of its subject', async () => {
      await using env = await buses(factory);
      const subject = unique('ps');
      const got: string[] = [];
      const s1 = env.a.subscribe(subject, (m) => void got.push(`a:${String(m.body)}`));
      const s2 = env.b.subscribe(subject, (m) => void got.push(`b:${String(m.body)}`));
      await Promise.all([s1.ready, s2.ready]);
      env.a.publish(subject, 'x');
      await eventually(() => got.length === 2);
      assert.deepEqual(got.sort(), ['a:x', 'b:x']);
    });

    test("'*' matches one token and '>' one or more", async () => {
      await using env = await buses(factory);
      const root = unique('wild');
      const star: string[] = [];
      const tail: string[] = [];
      const s1 = env.b.subscribe(`${root}.*.tokens`, (m) => void star.push(m.subject));
      const s2 = env.b.subscribe(`${root}.>`, (m) => void tail.push(m.subject));
      await Promise.all([s1.ready, s2.ready]);
      for (const s of [`${root}.m1.tokens`, `${root}.m1.x.tokens`, `${root}.m2`, `${root}`]) {
        env.a.publish(s, 1);
      }
      await eventually(() => tail.length === 3);
      await env.a.transport.flush();
      assert.deepEqual(star, [`${root}.m1.tokens`]);
      assert.deepEqual(
        tail.sort(),
        [`${root}.m1.tokens`, `${root}.m1.x.tokens`, `${root}.m2`].sort(),
      );
    });

    test('a queue group gives each message to exactly one member', async () => {
      await using env = await buses(factory);
      const subject = unique('qg');
      const counts = [0, 0, 0];
      const subs = counts.map((_, i) =>
        (i === 2 ? env.a : env.b).subscribe(subject, () => void counts[i]!++, { queue: 'workers' }),
      );
      await Promise.all(subs.map((s) => s.ready));
      for (let i = 0; i < 90; i++) env.a.publish(subject, i);
      await eventually(() => counts.reduce((x, y) => x + y) === 90);
      assert.equal(
        counts.filter((c) => c > 0).length > 1,
        true,
        `load spread over members: ${counts.join(',')}`,
      );
    });

    test("keeps one publisher's order for each subscriber", async () => {
      await using env = await buses(factory);
      const subject = unique('order');
      const got: number[] = [];
      const sub = env.b.subscribe<number>(subject, (m) => void got.push(m.body));
      await sub.ready;
      for (let i = 0; i < 500; i++) env.a.publish(subject, i);
      await eventually(() => got.length === 500);
      assert.deepEqual(
        got,
        Array.from({ length: 500 }, (_, i) => i),
      );
    });

    test('an unsubscribed handler gets nothing more', async () => {
      await using env = await buses(factory);
      const subject = unique('unsub');
      let n = 0;
      const sub = env.b.subscribe(subject, () => void n++);
      await sub.ready;
      env.a.publish(subject, 1);
      await eventually(() => n === 1);
      sub.unsubscribe();
      env.a.publish(subject, 2);
      await env.a.transport.flush();
      await new Promise((r) => setTimeout(r, 50 + (factory.slackMs ?? 0)));
      assert.equal(n, 1);
    });

    test('an iterating subscription yields messages in order', async () => {
      await using env = await buses(factory);
      const subject = unique('iter');
      const sub = env.b.subscribe<number>(subject);
      await sub.ready;
      for (let i = 0; i < 10; i++) env.a.publish(subject, i);
      const got: number[] = [];
      for await (const m of sub) {
        got.push(m.body);
        if (got.length === 10) break;
      }
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    test('refuses malformed subjects and patterns with InvalidMessageError', async () => {
      await using env = await buses(factory);
      assert.throws(() => env.a.publish('bad subject', 1), InvalidMessageError);
      assert.throws(() => env.a.publish('a..b', 1), InvalidMessageError);
      assert.throws(() => env.a.publish('a.*', 1), InvalidMessageError);
      assert.throws(() => env.a.subscribe('a.>.b', () => undefined), InvalidMessageError);
      assert.throws(() => env.a.subscribe('', () => undefined), InvalidMessageError);
    });
  });
}
