// Conformance: coalesced stream items (docs/protocol.md, "Coalesced items"). The responder's bus
// gathers items written close together into one message; the reader sees the same chunks in the
// same order, and credit, cancellation and errors work as they do item by item.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBus, type CoalesceOptions } from '../../src/bus/index.js';
import { CancelledError, OverloadedError, type Envelope } from '../../src/protocol/index.js';
import { eventually, sleep, unique, type TransportFactory } from './harness.js';

/** A reader bus and a responder bus that coalesces, on one transport; both see every message. */
async function coalescingBuses(
  factory: TransportFactory,
  coalesce: CoalesceOptions | false | undefined,
) {
  const transport = await factory.create();
  const a = createBus({ transport, source: 'a', onError: () => undefined });
  const b = createBus({
    transport,
    source: 'b',
    onError: () => undefined,
    ...(coalesce === undefined ? {} : { coalesce }),
  });
  const wire: Envelope[] = [];
  // A second listener on the reader's inbox records what actually crossed the transport.
  const tap = transport.subscribe(a.inbox, (env) => wire.push(env));
  await Promise.all([a.ready, b.ready, tap.ready]);
  return {
    a,
    b,
    wire,
    async [Symbol.asyncDispose]() {
      tap.unsubscribe();
      await a.close();
      await b.close();
      await transport.close();
    },
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function coalesceSuite(factory: TransportFactory): void {
  const slack = factory.slackMs ?? 0;
  describe(`${factory.name} - coalesced stream items`, () => {
    test('coalesced items reach the reader as the same chunks in order, then the result', async () => {
      await using env = await coalescingBuses(factory, { maxDelayMs: 20 + slack });
      const subject = unique('co');
      const sub = env.b.serve(subject, async function* () {
        for (let i = 0; i < 100; i++) {
          if (i % 10 === 0) await turn();
          yield { text: `t${i}` };
        }
        return { text: 'done' };
      });
      await sub.ready;
      const stream = env.a.stream<{ text: string }>(subject, {}, { credit: 32 });
      const got: string[] = [];
      for await (const chunk of stream) got.push(chunk.text);
      assert.deepEqual(
        got,
        Array.from({ length: 100 }, (_, i) => `t${i}`),
      );
      assert.deepEqual(await stream.result, { text: 'done' });
      const items = env.wire.filter((e) => e.corr === stream.id && e.seq !== 0 && e.eos !== true);
      const coalesced = items.filter((e) => e.items !== undefined);
      assert.ok(coalesced.length > 0, 'some items went out together');
      assert.ok(items.length < 100, `${items.length} messages carried 100 items`);
      assert.equal(
        items.reduce((n, e) => n + (e.items ?? 1), 0),
        100,
      );
      for (const e of coalesced) {
        assert.ok(Array.isArray(e.body) && e.body.length === e.items);
        assert.ok(e.items <= 32, 'no message carries more items than the credit window');
      }
    });

    test('by default the items of one turn leave as one message, and none waits for the next turn', async () => {
      await using env = await coalescingBuses(factory, undefined);
      const subject = unique('coturn');
      const sub = env.b.serve(subject, async function* () {
        for (let t = 0; t < 3; t++) {
          for (let i = 0; i < 5; i++) yield `${t}.${i}`;
          await sleep(30);
        }
      });
      await sub.ready;
      const stream = env.a.stream<string>(subject, {}, { credit: 64 });
      const batches: string[][] = [];
      for await (const batch of stream.batches()) batches.push(batch);
      assert.deepEqual(
        batches.flat(),
        [0, 1, 2].flatMap((t) => [0, 1, 2, 3, 4].map((i) => `${t}.${i}`)),
      );
      const items = env.wire.filter((e) => e.corr === stream.id && e.seq !== 0 && e.eos !== true);
      assert.deepEqual(
        items.map((e) => e.items),
        [5, 5, 5],
        "one message per turn, each carrying that turn's five items",
      );
      // The reader is handed each message's items together, as they arrived.
      assert.deepEqual(
        batches.map((b) => b.length),
        [5, 5, 5],
      );
    });

    test('coalesce: false sends one message per item', async () => {
      await using env = await coalescingBuses(factory, false);
      const subject = unique('cooff');
      const sub = env.b.serve(subject, async function* () {
        for (let i = 0; i < 8; i++) yield i;
      });
      await sub.ready;
      const stream = env.a.stream<number>(subject, {}, { credit: 64 });
      const got: number[] = [];
      for await (const item of stream) got.push(item);
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7]);
      const items = env.wire.filter((e) => e.corr === stream.id && e.seq !== 0 && e.eos !== true);
      assert.equal(items.length, 8);
      assert.ok(items.every((e) => e.items === undefined));
    });

    test('a slow reader holds a coalescing writer to the credit window', async () => {
      await using env = await coalescingBuses(factory, { maxDelayMs: 5 });
      const subject = unique('cocredit');
      let produced = 0;
      const sub = env.b.serve(subject, async function* () {
        for (let i = 0; i < 60; i++) {
          produced++;
          yield i;
        }
      });
      await sub.ready;
      const window = 6;
      const got: number[] = [];
      let maxAhead = 0;
      for await (const n of env.a.stream<number>(subject, {}, { credit: window })) {
        got.push(n);
        await sleep(got.length % 10 === 0 ? 40 + slack : 1);
        maxAhead = Math.max(maxAhead, produced - got.length);
      }
      assert.deepEqual(
        got,
        Array.from({ length: 60 }, (_, i) => i),
      );
      // The writer may have one item in hand beyond what the credit lets it send.
      assert.ok(
        maxAhead <= window + 1,
        `writer ran ${maxAhead} items ahead of a window of ${window}`,
      );
    });

    test('breaking out of the reader cancels a coalescing responder', async () => {
      await using env = await coalescingBuses(factory, { maxDelayMs: 5 });
      const subject = unique('costop');
      let reason: unknown;
      let finished = false;
      const sub = env.b.serve(subject, async function* (_req, ctx) {
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
        try {
          for (let i = 0; ; i++) {
            yield i;
            if (i % 4 === 0) await sleep(2);
          }
        } finally {
          finished = true;
        }
      });
      await sub.ready;
      for await (const n of env.a.stream<number>(subject, {}, { credit: 8 })) if (n === 20) break;
      await eventually(() => finished && reason !== undefined, 3000 + slack);
      assert.ok(reason instanceof CancelledError);
    });

    test('items held for coalescing reach the reader before the error that follows them', async () => {
      await using env = await coalescingBuses(factory, { maxDelayMs: 1000 });
      const subject = unique('coerr');
      const sub = env.b.serve(subject, async function* () {
        yield 1;
        yield 2;
        yield 3;
        throw new OverloadedError('backend overloaded');
      });
      await sub.ready;
      const got: number[] = [];
      await assert.rejects(async () => {
        for await (const n of env.a.stream<number>(subject, {})) got.push(n);
      }, OverloadedError);
      assert.deepEqual(got, [1, 2, 3]);
    });
  });
}
