// Fault test on a real broker: 1,000 concurrent streaming chat requests through a gateway
// process and three worker processes (simulated backend: each answer is a pure function of the
// request), and one worker SIGKILLed while it holds many of the streams. Every request must end
// either with exactly the reference text (no token missing, none repeated) or with an explicit
// retryable error after a prefix of it; none may hang, none may be answered twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referenceText } from './stack.js';
import { checkOutcomes, drain, streamChat, type StreamOutcome } from './process-stack.js';
import {
  brokerAvailable,
  startBrokerStack,
  waitUntilAsync,
  type BrokerName,
  type WorkerView,
} from './broker-stack.js';

export const STREAMS = 1000;
const TOKENS = 16;
const messages = [{ role: 'user' as const, content: 'Tell the broker a long story.' }];

export async function brokerFault(broker: BrokerName): Promise<void> {
  const what = `llm fault on ${broker} - ${STREAMS} concurrent streams survive a SIGKILL of one of three workers`;
  if (!(await brokerAvailable(broker, what))) return;

  test(what, { timeout: 120_000 }, async (t) => {
    await using stack = await startBrokerStack(broker, {
      workers: 3,
      workerArgs: ['--concurrency', String(STREAMS), '--sim-itl-ms', '500'],
    });
    const requests = Array.from({ length: STREAMS }, (_, i) => ({
      model: 'sim',
      messages,
      seed: i,
      max_tokens: TOKENS,
    }));
    const expected = await Promise.all(requests.map((r) => referenceText({}, r)));

    let finished = 0; // seen by the clients
    const client = stack.client();
    const began = Date.now();
    const outcomes = Promise.all(
      requests.map((r) =>
        streamChat(client, r, { timeoutMs: 90_000 }).then((o) => {
          finished++;
          return o;
        }),
      ),
    );
    // The kill comes when one worker holds a tenth of the streams or, on a machine too busy
    // for that many at once, when half of them have ended: mid-run either way. The gateway's
    // view of its workers is polled alongside, since one look may take a while under load.
    let view: WorkerView[] = await stack.listWorkers();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        view = await stack.listWorkers();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    poller.catch(() => undefined); // awaited (and its failure reported) after the run
    const busiest = () => view.reduce((a, b) => (b.inflight > a.inflight ? b : a));
    await new Promise<void>((resolve) => {
      const check = () => {
        if (busiest().inflight >= STREAMS / 10 || finished >= STREAMS / 2) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
    polling = false;
    const killMs = Date.now() - began;
    const victim = busiest();
    const held = view.reduce((n, w) => n + w.inflight, 0);
    const finishedBeforeKill = finished;
    stack.workers.get(victim.id)!.child.kill('SIGKILL');
    const killedAt = Date.now();

    const results: StreamOutcome[] = await outcomes;
    await poller;
    const duration = Date.now() - began;
    const { completed, errors } = checkOutcomes(results, expected, TOKENS);
    const line =
      `${broker}: ${STREAMS} streams, ${victim.inflight} on the killed worker ${victim.id} ` +
      `(${held} in flight on all three, ${finishedBeforeKill} finished, ${killMs} ms after the start); ` +
      `all ended ${Date.now() - killedAt} ms after the kill, ${duration} ms in all; ` +
      `${completed} completed exactly, ${STREAMS - completed} retryable errors` +
      (errors.size === 0 ? '' : ` (${[...errors].map(([c, n]) => `${c}: ${n}`).join(', ')})`);
    t.diagnostic(line);
    console.log(line);
    assert.ok(finishedBeforeKill < STREAMS - victim.inflight, 'the kill came mid-run');
    assert.ok(victim.inflight >= STREAMS / 40, `the victim held many streams (${victim.inflight})`);
    assert.equal((await stack.workers.get(victim.id)!.exited).signal, 'SIGKILL');

    // A stream runs to its end on a worker once: the survivors finished no more streams than
    // the clients saw finish (the rest were finished by the victim before it died), failed
    // none, and had none cancelled (no attempt was abandoned to run again elsewhere).
    const survivors = [...stack.workers.values()].filter((w) => w.id !== victim.id);
    await waitUntilAsync(
      async () => (await stack.listWorkers()).every((w) => w.inflight === 0),
      'the survivors to report nothing in flight',
    );
    const reports = await Promise.all(survivors.map((w) => drain(w, 20_000)));
    const ranOnSurvivors = reports.reduce((n, r) => n + r.completed, 0);
    for (const r of reports) {
      assert.equal(r.failed, 0, 'no survivor failed a request');
      assert.equal(r.cancelled, 0, 'no survivor had a request cancelled');
    }
    assert.ok(
      ranOnSurvivors <= completed,
      `survivors completed ${ranOnSurvivors} streams, clients saw ${completed}: none ran twice`,
    );
    t.diagnostic(`${ranOnSurvivors} streams ran to their end on the survivors`);
  });
}
