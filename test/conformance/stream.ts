// Conformance: streamed replies, credit-based flow control, cancellation, errors, deadlines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CancelledError,
  DeadlineExceededError,
  NoRespondersError,
  OverloadedError,
  WorkerLostError,
} from '../../src/protocol/index.js';
import { createEnvelope } from '../../src/protocol/envelope.js';
import { buses, eventually, sleep, unique, type TransportFactory } from './harness.js';

export function streamSuite(factory: TransportFactory): void {
  const slack = factory.slackMs ?? 0;
  describe(`${factory.name} - streams`, () => {
    test('streams chunks in order and ends with the result', async () => {
      await using env = await buses(factory);
      const subject = unique('st');
      const sub = env.b.serve(subject, async function* () {
        for (let i = 0; i < 100; i++) yield { text: `t${i}` };
        return {
          model: 'sim',
          text: 'done',
          finish_reason: 'stop',
          usage: { prompt_tokens: 1, completion_tokens: 100, total_tokens: 101 },
        };
      });
      await sub.ready;
      const stream = env.a.stream<{ text: string }>(
        subject,
        {},
        { kind: 'inference.request', credit: 8 },
      );
      const got: string[] = [];
      for await (const chunk of stream) got.push(chunk.text);
      assert.deepEqual(
        got,
        Array.from({ length: 100 }, (_, i) => `t${i}`),
      );
      const result = (await stream.result) as { text: string };
      assert.equal(result.text, 'done');
    });

    test('a slow reader holds the writer to the credit window', async () => {
      await using env = await buses(factory);
      const subject = unique('credit');
      let produced = 0;
      const sub = env.b.serve(subject, async function* () {
        for (let i = 0; i < 60; i++) {
          produced++;
          yield i;
        }
      });
      await sub.ready;
      const window = 6;
      const stream = env.a.stream<number>(subject, {}, { credit: window });
      let consumed = 0;
      let maxAhead = 0;
      for await (const _ of stream) {
        consumed++;
        await sleep(consumed % 10 === 0 ? 40 + slack : 1);
        maxAhead = Math.max(maxAhead, produced - consumed);
      }
      assert.equal(consumed, 60);
      // The writer may hold one item it has pulled but not yet been allowed to send.
      assert.ok(maxAhead <= window + 1, `writer ran ${maxAhead} ahead with a window of ${window}`);
    });

    test('breaking out of the reader cancels the responder', async () => {
      await using env = await buses(factory);
      const subject = unique('stop');
      let reason: unknown;
      let finished = false;
      const sub = env.b.serve(subject, async function* (_req, ctx) {
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
        try {
          for (let i = 0; ; i++) {
            yield i;
            await sleep(2);
          }
        } finally {
          finished = true;
        }
      });
      await sub.ready;
      for await (const n of env.a.stream<number>(subject, {}, { credit: 4 })) if (n === 5) break;
      await eventually(() => finished && reason !== undefined, 3000 + slack);
      assert.ok(reason instanceof CancelledError);
    });

    test('an AbortSignal cancels before the first chunk reaches the responder', async () => {
      await using env = await buses(factory);
      const subject = unique('early');
      let aborted = false;
      const sub = env.b.serve(subject, async function* (_req, ctx) {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        aborted = true;
        yield 'never';
      });
      await sub.ready;
      const ac = new AbortController();
      const stream = env.a.stream(subject, {}, { signal: ac.signal });
      setTimeout(() => ac.abort(), 30);
      await assert.rejects(async () => {
        for await (const _ of stream) void _;
      }, CancelledError);
      await eventually(() => aborted, 3000 + slack);
    });

    test('an error after some chunks reaches the reader after those chunks', async () => {
      await using env = await buses(factory);
      const subject = unique('sterr');
      const sub = env.b.serve(subject, async function* () {
        yield 1;
        yield 2;
        throw new OverloadedError('backend overloaded');
      });
      await sub.ready;
      const got: number[] = [];
      await assert.rejects(async () => {
        for await (const n of env.a.stream<number>(subject, {})) got.push(n);
      }, OverloadedError);
      assert.deepEqual(got, [1, 2]);
    });

    test('a stream past its deadline fails with DeadlineExceededError and stops the writer', async () => {
      await using env = await buses(factory);
      const subject = unique('stdl');
      let stopped = false;
      const sub = env.b.serve(subject, async function* (_req, ctx) {
        ctx.signal.addEventListener('abort', () => (stopped = true));
        for (let i = 0; ; i++) {
          yield i;
          await sleep(10);
        }
      });
      await sub.ready;
      await assert.rejects(async () => {
        for await (const _ of env.a.stream(subject, {}, { timeoutMs: 100 + slack })) void _;
      }, DeadlineExceededError);
      await eventually(() => stopped, 3000 + slack);
    });

    test('a stream whose reader died ends at its deadline while waiting for credit', async () => {
      await using env = await buses(factory);
      const subject = unique('stgone');
      let produced = 0;
      let ended = false;
      const sub = env.b.serve(subject, async function* () {
        try {
          for (;;) yield ++produced;
        } finally {
          ended = true;
        }
      });
      await sub.ready;
      // A requester that asked for a stream of 2 and died: no credit and no cancel ever come.
      env.transport.publish(
        createEnvelope({
          kind: 'event',
          subject,
          body: {},
          replyTo: unique('_INBOX.gone'),
          credit: 2,
          deadline: Date.now() + 300 + slack,
        }),
      );
      await eventually(() => produced >= 2, 3000 + slack);
      await eventually(() => ended, 3000 + slack);
      assert.ok(produced <= 3, `the writer stopped at its credit (produced ${produced})`);
    });

    test('ctx.abort stops a stream waiting for credit and ends it with its error', async () => {
      await using env = await buses(factory);
      const subject = unique('stcx');
      let cancel: ((reason: string) => void) | undefined;
      let ended = false;
      const sub = env.b.serve(subject, async function* (_req, ctx) {
        cancel = (reason) => ctx.abort(new WorkerLostError(reason));
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          ended = true;
        }
      });
      await sub.ready;
      const stream = env.a.stream<number>(subject, {}, { credit: 2, timeoutMs: 10_000 });
      const reader = stream[Symbol.asyncIterator]();
      assert.equal((await reader.next()).value, 0);
      await eventually(() => cancel !== undefined, 3000 + slack);
      cancel!('requester gone');
      await eventually(() => ended, 3000 + slack);
      // What the window held, then the abort's error, long before the deadline.
      await assert.rejects(async () => {
        for (let step = await reader.next(); step.done !== true; step = await reader.next());
      }, WorkerLostError);
    });

    test('a stream with nobody serving fails with NoRespondersError', async () => {
      await using env = await buses(factory);
      await assert.rejects(async () => {
        for await (const _ of env.a.stream(unique('void'), {})) void _;
      }, NoRespondersError);
    });

    test('a handler that returns a value ends the stream with it and no chunks', async () => {
      await using env = await buses(factory);
      const subject = unique('plain');
      const sub = env.b.serve(subject, () => ({ whole: true }));
      await sub.ready;
      const stream = env.a.stream(subject, {});
      const got: unknown[] = [];
      for await (const c of stream) got.push(c);
      assert.deepEqual(got, []);
      assert.deepEqual(await stream.result, { whole: true });
    });
  });
}
