// Several gateways on one broker acting as one, each a real `llmwire gateway` process: a tenant's
// rate limit is one limit across them (the limit store on the broker), every gateway lists the
// same workers (from the same heartbeats), tenants' weights share a worker's slots across the
// gateways (the demand in gateway heartbeats), and a gateway SIGKILLed under streaming load costs
// the other gateways' clients nothing while the worker stops the dead gateway's generations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type OpenAI from 'openai';
import { referenceText } from './stack.js';
import { streamChat, within, type WorkerProcess } from './process-stack.js';
import {
  brokerAvailable,
  KEYS,
  startBrokerStack,
  waitUntilAsync,
  type BrokerName,
} from './broker-stack.js';

/** The shared tenant's requests a minute (broker-stack.ts KEYS.shared). */
const SHARED_RPM = 6;

function errorCode(err: unknown): string | undefined {
  const body = (err as { error?: { code?: unknown } } | undefined)?.error;
  return typeof body?.code === 'string' ? body.code : undefined;
}

/** The worker's JSON log lines with `msg`. */
function logLines(w: WorkerProcess, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of w.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) out.push(parsed);
    } catch {
      // not a log line
    }
  }
  return out;
}

export async function gatewaysShared(broker: BrokerName): Promise<void> {
  const what = `several gateways on ${broker}`;
  if (!(await brokerAvailable(broker, what))) return;

  test(`${what} - one tenant limit across two gateways, and the same workers on each`, async () => {
    await using stack = await startBrokerStack(broker, { gateways: 2, workers: 2 });
    const views = await Promise.all([stack.listWorkers(0), stack.listWorkers(1)]);
    const ids = views.map((v) => v.map((w) => `${w.id}:${w.status}`).sort());
    assert.deepEqual(ids[0], ['w1:ready', 'w2:ready']);
    assert.deepEqual(ids[1], ids[0], 'both gateways list the same workers');

    const began = Date.now();
    const clients = [stack.client(KEYS.shared, 0), stack.client(KEYS.shared, 1)];
    const tries = 10;
    const admitted = [0, 0];
    const refused = [0, 0];
    await Promise.all(
      clients.map(async (client, g) => {
        for (let i = 0; i < tries; i++) {
          try {
            await client.chat.completions.create({
              model: 'sim',
              messages: [{ role: 'user', content: `hi ${g}.${i}` }],
              max_tokens: 2,
            });
            admitted[g]!++;
          } catch (err) {
            assert.equal(errorCode(err), 'rate_limited', 'refused as over the rate limit');
            refused[g]!++;
          }
        }
      }),
    );
    // A bucket of 6 a minute gives one more back every 10 s.
    const refill = Math.floor((Date.now() - began) / 10_000);
    const total = admitted[0]! + admitted[1]!;
    assert.ok(
      total <= SHARED_RPM + refill,
      `admitted ${admitted.join(' + ')} across the gateways, limit ${SHARED_RPM} (+${refill})`,
    );
    assert.ok(total >= SHARED_RPM, `the limit is used up, not undercut (admitted ${total})`);
    assert.ok(refused[0]! > 0 && refused[1]! > 0, `each gateway refuses (${refused.join(', ')})`);
  });

  test(
    `${what} - tenants weighted 1 and 3 on two gateways share one worker about 1:3, and no client sees an error`,
    { timeout: 120_000 },
    async (t) => {
      // One worker of 4 slots, 0.4 s a request; each tenant keeps 8 requests going through its
      // own gateway, far more than its share, so both are backlogged throughout.
      await using stack = await startBrokerStack(broker, {
        gateways: 2,
        workers: 1,
        workerArgs: ['--concurrency', '4', '--sim-ttft-ms', '0', '--sim-itl-ms', '50'],
      });
      const CLIENTS = 8;
      const WARMUP_MS = 3000;
      const WINDOW_MS = 8000;
      const began = Date.now();
      const from = began + WARMUP_MS;
      const until = from + WINDOW_MS;
      const done = { light: 0, heavy: 0 };
      const errors: string[] = [];
      const load = (tenant: 'light' | 'heavy', gateway: number) => {
        const client = stack.client(KEYS[tenant], gateway);
        return Promise.all(
          Array.from({ length: CLIENTS }, async (_, c) => {
            for (let i = 0; Date.now() < until; i++) {
              try {
                await client.chat.completions.create({
                  model: 'sim',
                  messages: [{ role: 'user', content: `${tenant} ${c}.${i}` }],
                  max_tokens: 8,
                });
                const at = Date.now();
                if (at >= from && at < until) done[tenant]++;
              } catch (err) {
                errors.push(`${tenant}: ${errorCode(err) ?? String(err)}`);
              }
            }
          }),
        );
      };
      await Promise.all([load('light', 0), load('heavy', 1)]);
      t.diagnostic(`completed in ${WINDOW_MS} ms: light ${done.light}, heavy ${done.heavy}`);
      assert.deepEqual(errors, [], 'no client saw an error');
      assert.ok(done.light > 0, 'the light tenant is served too');
      const ratio = done.heavy / done.light;
      assert.ok(
        ratio >= 2 && ratio <= 5,
        `heavy (weight 3) to light (weight 1) completions ${done.heavy}:${done.light} = ${ratio.toFixed(2)}, expected about 3`,
      );
    },
  );

  test(
    `${what} - a gateway SIGKILLed under streaming load: the other's clients finish, the worker stops the dead one's generations`,
    { timeout: 120_000 },
    async (t) => {
      const TOKENS = 300;
      const PER_GATEWAY = 12;
      await using stack = await startBrokerStack(broker, {
        gateways: 2,
        workers: 1,
        workerArgs: ['--concurrency', '64', '--sim-itl-ms', '50'],
      });
      const worker = stack.workers.get('w1')!;
      const request = (g: number, i: number) => ({
        model: 'sim',
        messages: [{ role: 'user' as const, content: `story ${g}.${i}` }],
        seed: i,
        max_tokens: TOKENS,
      });
      const expected = await Promise.all(
        Array.from({ length: PER_GATEWAY }, (_, i) => referenceText({}, request(1, i))),
      );
      const started = [0, 0];
      const run = (client: OpenAI, g: number) =>
        Promise.all(
          Array.from({ length: PER_GATEWAY }, (_, i) => {
            let first = true;
            return streamChat(client, request(g, i), {
              timeoutMs: 90_000,
              onDelta: () => {
                if (first) started[g]!++;
                first = false;
              },
            });
          }),
        );
      const doomed = run(stack.client(KEYS.main, 0), 0);
      const survivors = run(stack.client(KEYS.main, 1), 1);
      const until = Date.now() + 30_000;
      while (started[0]! < PER_GATEWAY || started[1]! < PER_GATEWAY) {
        assert.ok(Date.now() < until, `streams started: ${started.join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const killedAt = Date.now();
      stack.gatewayProcess.child.kill('SIGKILL');
      await within(stack.gatewayProcess.exited, 'the gateway to die', 5000);

      // The worker says it stopped the dead gateway's generations, every one of them.
      await worker.waitForOutput(/requesting gateway gone/, 15_000);
      const stoppedAfterMs = Date.now() - killedAt;
      const gone = logLines(worker, 'requesting gateway gone: its generations stopped');
      assert.equal(gone.length, 1, 'one gateway lost');
      assert.equal(gone[0]!.stopped, PER_GATEWAY, 'every generation of the dead gateway stopped');
      // Each stopped before its end: cancelled, with fewer chunks than the answer has.
      const cancelledLines = () =>
        logLines(worker, 'request done').filter((l) => l.outcome === 'cancelled');
      await waitUntilAsync(
        async () => cancelledLines().length >= PER_GATEWAY,
        'the worker to end them as cancelled',
        10_000,
      );
      const cancelled = cancelledLines();
      assert.equal(cancelled.length, PER_GATEWAY, 'the worker ended them as cancelled');
      for (const l of cancelled)
        assert.ok(Number(l.chunks) < TOKENS, `cut short at ${String(l.chunks)}`);

      const results = await survivors;
      for (const [i, r] of results.entries()) {
        assert.equal(r.hung, false, `stream ${i} hung`);
        assert.equal(
          r.error,
          undefined,
          `stream ${i} of the live gateway failed: ${String(r.error as Error)}`,
        );
        assert.equal(r.text, expected[i], `stream ${i}: the exact text`);
        assert.equal(r.finishReason, 'length');
      }
      const dead = await doomed;
      assert.ok(
        dead.every((r) => r.error !== undefined),
        "the dead gateway's clients saw it die",
      );
      t.diagnostic(`generations stopped ${stoppedAfterMs} ms after the kill`);
    },
  );
}
