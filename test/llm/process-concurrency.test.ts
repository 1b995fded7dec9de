// Many streams at once across two real worker processes, one of which is SIGKILLed while they
// run: each stream must end either with exactly the reference text or with an explicit
// retryable error after a prefix of it; none may hang, none may repeat text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referenceText } from './stack.js';
import {
  checkOutcomes,
  drain,
  startProcessStack,
  streamChat,
  within,
  type StreamOutcome,
} from './process-stack.js';

const STREAMS = 50;
const messages = [{ role: 'user' as const, content: 'Tell the wire a long story.' }];

test(
  `worker processes - ${STREAMS} concurrent streams survive a SIGKILL of one of two workers`,
  { timeout: 60_000 },
  async (t) => {
    await using stack = await startProcessStack();
    const workers = new Map(
      await Promise.all(
        ['wa', 'wb'].map(
          async (id) => [id, await stack.startWorker(id, ['--concurrency', '64'])] as const,
        ),
      ),
    );
    const requests = Array.from({ length: STREAMS }, (_, i) => ({
      model: 'sim',
      messages,
      seed: i,
      max_tokens: 80,
    }));
    const expected = await Promise.all(requests.map((r) => referenceText({}, r)));

    // Promise.withResolvers is Node 22; this project supports Node 20.
    const started: (() => void)[] = [];
    const firsts = requests.map(() => new Promise<void>((resolve) => started.push(resolve)));
    const client = stack.client();
    const outcomes = Promise.all(
      requests.map((r, i) =>
        streamChat(client, r, {
          timeoutMs: 30_000,
          onDelta: (n) => {
            if (n === 1) started[i]!();
          },
        }),
      ),
    );
    await within(Promise.all(firsts), 'every stream to start', 20_000);
    const onVictim = stack.worker('wa')?.outstanding ?? 0;
    assert.ok(onVictim > 0, 'the victim was serving some of the streams');
    workers.get('wa')!.child.kill('SIGKILL');

    const results: StreamOutcome[] = await outcomes;
    const { completed, errors } = checkOutcomes(results, expected);
    t.diagnostic(
      `${onVictim} streams on the killed worker; ${completed} completed, ${results.length - completed} retryable errors (${[...errors].map(([c, n]) => `${c}: ${n}`).join(', ') || 'none'})`,
    );
    assert.equal((await workers.get('wa')!.exited).signal, 'SIGKILL');
    assert.equal(stack.worker('wb')?.outstanding, 0, 'nothing left outstanding');
    // Each completed stream ran to its end once: the survivor finished its own streams and the
    // continuations of the killed worker's, never more than the clients saw finish. (Not
    // exactly as many: on a busy machine the victim finishes some streams before the last one
    // starts, and those it never reports.)
    const survivor = await drain(workers.get('wb')!);
    assert.deepEqual(
      { ...survivor, completed: 0 },
      { code: 0, signal: null, completed: 0, failed: 0, cancelled: 0 },
    );
    assert.ok(
      survivor.completed <= completed,
      `the survivor completed ${survivor.completed}, the clients saw ${completed}`,
    );
  },
);
