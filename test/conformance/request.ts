// Conformance: request/reply, deadlines, cancellation, typed errors, kind validation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CancelledError,
  DeadlineExceededError,
  ForbiddenError,
  InternalError,
  InvalidMessageError,
  NoRespondersError,
  UnknownKindError,
  WireError,
} from '../../src/protocol/index.js';
import { buses, sleep, unique, type TransportFactory } from './harness.js';

const chat = { model: 'sim', messages: [{ role: 'user', content: 'hi' }] };

export function requestSuite(factory: TransportFactory): void {
  const slack = factory.slackMs ?? 0;
  describe(`${factory.name} - request/reply`, () => {
    test('answers a request with a correlated reply of the result kind', async () => {
      await using env = await buses(factory);
      const subject = unique('rr');
      const sub = env.b.serve(subject, (req) => ({ echoed: req.body }));
      await sub.ready;
      const reply = await env.a.request(subject, { n: 1 }, { kind: 'embedding.request' });
      assert.deepEqual(reply.body, { echoed: { n: 1 } });
      assert.equal(reply.kind, 'embedding.result');
      assert.equal(typeof reply.envelope.corr, 'string');
      assert.equal(reply.envelope.source, 'b');
    });

    test('fails fast with NoRespondersError when nobody listens', async () => {
      await using env = await buses(factory);
      const started = Date.now();
      await assert.rejects(env.a.request(unique('nobody'), 1, { timeoutMs: 5000 }), (err) => {
        assert.ok(err instanceof NoRespondersError);
        assert.equal(err.code, 'no_responders');
        assert.equal(err.retryable, true);
        return true;
      });
      assert.ok(Date.now() - started < 4000, 'did not wait for the deadline');
    });

    test('rejects with DeadlineExceededError when the reply is late', async () => {
      await using env = await buses(factory);
      const subject = unique('slow');
      const sub = env.b.serve(subject, async () => {
        await sleep(500 + slack);
        return 'late';
      });
      await sub.ready;
      await assert.rejects(
        env.a.request(subject, 1, { timeoutMs: 50 + slack }),
        DeadlineExceededError,
      );
    });

    test("aborts the responder's signal at the request deadline", async () => {
      await using env = await buses(factory);
      const subject = unique('abortdl');
      let aborted: unknown;
      const sub = env.b.serve(
        subject,
        (_req, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              reject(ctx.signal.reason as Error);
            });
          }),
      );
      await sub.ready;
      await assert.rejects(
        env.a.request(subject, 1, { timeoutMs: 80 + slack }),
        DeadlineExceededError,
      );
      await sleep(50);
      assert.ok(aborted instanceof DeadlineExceededError);
    });

    test('an AbortSignal cancels a waiting request with CancelledError', async () => {
      await using env = await buses(factory);
      const subject = unique('cancel');
      const sub = env.b.serve(subject, () => sleep(1000));
      await sub.ready;
      const ac = new AbortController();
      const pending = env.a.request(subject, 1, { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await assert.rejects(pending, CancelledError);
    });

    test('a typed error thrown by the responder arrives as the same class and code', async () => {
      await using env = await buses(factory);
      const subject = unique('err');
      const sub = env.b.serve(subject, () => {
        throw new ForbiddenError('model not allowed', { details: { model: 'x' } });
      });
      await sub.ready;
      await assert.rejects(env.a.request(subject, 1), (err) => {
        assert.ok(err instanceof ForbiddenError);
        assert.equal(err.code, 'forbidden');
        assert.equal(err.status, 403);
        assert.deepEqual(err.details, { model: 'x' });
        return true;
      });
    });

    test('an unknown throw becomes InternalError without its internal message', async () => {
      await using env = await buses(factory);
      const subject = unique('boom');
      const sub = env.b.serve(subject, () => {
        throw new TypeError('secret internal detail');
      });
      await sub.ready;
      await assert.rejects(env.a.request(subject, 1), (err) => {
        assert.ok(err instanceof InternalError);
        assert.ok(!String((err as Error).message).includes('secret'));
        return true;
      });
    });

    test('does not run the handler for a request already past its deadline', async () => {
      await using env = await buses(factory);
      const subject = unique('expired');
      let ran = false;
      const sub = env.b.serve(subject, () => {
        ran = true;
        return 1;
      });
      await sub.ready;
      const reply = env.a.request(subject, 1, { deadline: Date.now() - 1000, timeoutMs: 1000 });
      await assert.rejects(reply, DeadlineExceededError);
      await sleep(20 + slack);
      assert.equal(ran, false);
    });

    test('checks bodies against the kind schema and names the bad field', async () => {
      await using env = await buses(factory);
      const subject = unique('schema');
      const sub = env.b.serve(subject, () => 'ok', { kinds: ['inference.request'] });
      await sub.ready;
      const ok = await env.a.request(subject, chat, { kind: 'inference.request' });
      assert.equal(ok.body, 'ok');
      await assert.rejects(
        env.a.request(subject, { ...chat, temperature: 7 }, { kind: 'inference.request' }),
        (err) => err instanceof InvalidMessageError && /temperature/.test(err.message),
      );
      await assert.rejects(
        env.a.request(subject, chat, { kind: 'mystery.kind' }),
        UnknownKindError,
      );
    });

    test('every rejection is a WireError with a stable code', async () => {
      await using env = await buses(factory);
      const err = await env.a.request(unique('none'), 1).catch((e: unknown) => e);
      assert.ok(err instanceof WireError);
      assert.match(err.code, /^[a-z_]+$/);
    });
  });
}
