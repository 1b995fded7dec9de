// `llmwire status` and `llmwire bench` as child processes against a running gateway, and the
// failure paths every command shares: a gateway or broker that does not answer is one line
// naming the URL with code unreachable and exit 3, never a stack trace.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { GatewayStatus } from '../../src/llm/gateway/status.js';
import { startStack } from '../llm/stack.js';
import { freePort } from '../transport/fixtures/nats-server.js';
import { llmwire } from './helpers.js';

const NO_STACK = /\n\s+at /;

describe('cli status', () => {
  test('status - lists the running workers, the model queue and the bus', async () => {
    await using stack = await startStack({ workers: 2 });
    const r = await llmwire(['status', '--gateway', stack.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bus memory connected/);
    assert.match(r.stdout, /WORKER\s+STATE\s+MODELS\s+LOAD\s+HEARTBEAT\s+HEALTH/);
    assert.match(r.stdout, /w1\s+ready\s+sim\s+0\/64\s+\S+ ago\s+ok/);
    assert.match(r.stdout, /w2\s+ready\s+sim/);
    assert.match(r.stdout, /MODEL\s+QUEUED\s+IN-FLIGHT\s+SHARE\s+OLDEST WAIT/);
    // One gateway alone: its share is every slot.
    assert.match(r.stdout, /sim\s+0\s+0\/128\s+128\s+-/);
    const json = await llmwire(['status', '--gateway', stack.url, '--json']);
    const body = JSON.parse(json.stdout) as GatewayStatus;
    assert.deepEqual(
      body.workers.map((w) => w.id),
      ['w1', 'w2'],
    );
    assert.equal(body.bus.state, 'connected');
    assert.deepEqual(
      body.queues.map((q) => [q.model, q.capacity, q.depth]),
      [['sim', 128, 0]],
    );
  });

  test('status - shows the depth and the oldest wait of a model queue with requests waiting', async () => {
    await using stack = await startStack({ workers: 1, concurrency: 1, sim: { ttftMs: 4000 } });
    const client = stack.client();
    const abort = new AbortController();
    const calls = Array.from({ length: 3 }, () =>
      client.chat.completions
        .create(
          { model: 'sim', messages: [{ role: 'user', content: 'wait' }], max_tokens: 1 },
          { signal: abort.signal },
        )
        .catch(() => undefined),
    );
    try {
      const until = Date.now() + 10_000;
      while (stack.gateway.admission.snapshot('sim').queued < 2 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const json = await llmwire(['status', '--url', stack.url, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const [queue] = (JSON.parse(json.stdout) as GatewayStatus).queues;
      assert.equal(queue?.depth, 2);
      assert.equal(queue?.inflight, 1);
      assert.ok(queue?.oldestEnqueuedAt !== null && queue?.oldestEnqueuedAt !== undefined);
      assert.ok((queue?.oldestWaitMs ?? -1) >= 0);
      const table = await llmwire(['status', '--url', stack.url]);
      assert.match(table.stdout, /sim\s+2\s+1\/1\s+1\s+\d/);
    } finally {
      abort.abort();
      await Promise.all(calls);
    }
  });

  test('bench - runs a load against a gateway, prints progress and a summary', async () => {
    await using stack = await startStack({ workers: 2 });
    const r = await llmwire([
      'bench',
      '--gateway',
      stack.url,
      '--requests',
      '40',
      '--concurrency',
      '4',
      '--max-tokens',
      '8',
      '--progress-ms',
      '20',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[\d+\.\ds\] \d+ done, 0 errors, \d+ in flight, \d+ tokens\/s/);
    const summary = JSON.parse(r.stdout) as {
      completed: number;
      errors: number;
      tokens: number;
      ttftMs: { p50: number | null };
    };
    assert.equal(summary.completed, 40);
    assert.equal(summary.errors, 0);
    assert.equal(summary.tokens, 40 * 8);
    assert.notEqual(summary.ttftMs.p50, null);
  });

  test('bench - starts its own gateway and workers when given none', async () => {
    const r = await llmwire([
      'bench',
      '--requests',
      '10',
      '--concurrency',
      '2',
      '--max-tokens',
      '4',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /requests\s+10 completed, 0 errors of 10/);
    assert.match(r.stdout, /throughput\s+[\d.]+ requests\/s, \d+ tokens\/s/);
  });

  test('bench - counts refused requests as errors and exits 1', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await llmwire([
      'bench',
      '--gateway',
      stack.url,
      '--model',
      'nope',
      '--requests',
      '3',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /0 completed, 3 errors of 3/);
    assert.match(r.stdout, /first error\s+404 not_found/);
  });
});

describe('cli unreachable', () => {
  test('a gateway that does not answer: unreachable, the URL, exit 3', async () => {
    const port = await freePort();
    for (const args of [
      ['status', '--gateway', `http://127.0.0.1:${port}`],
      ['bench', '--gateway', `http://127.0.0.1:${port}`],
      ['send', '--url', `http://127.0.0.1:${port}/v1`, 'hello'],
    ]) {
      const r = await llmwire(args);
      assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `^llmwire: cannot reach the gateway at http://127\\.0\\.0\\.1:${port}.*running there\\? \\[unreachable\\]\\n$`,
        ),
      );
      assert.doesNotMatch(r.stderr, NO_STACK);
    }
  });

  test('a broker that does not answer: unreachable, the URL and what to check, exit 3', async () => {
    const port = await freePort();
    const cases = [
      [`nats://127.0.0.1:${port}`, /nats-server running/],
      [`redis://127.0.0.1:${port}`, /Redis running/],
      [`amqp://guest:secret@127.0.0.1:${port}`, /RabbitMQ running/],
      [`ws://127.0.0.1:${port}/v1/bus`, /'llmwire up' or 'llmwire gateway' running/],
    ] as const;
    for (const [url, what] of cases) {
      for (const args of [
        ['dlq', 'list', '--transport', url, '--queue', 'jobs', '--timeout-ms', '1500'],
        ['tail', 'llm.>', '--transport', url, '--timeout-ms', '1500'],
        ['status', '--transport', url, '--queue', 'jobs', '--timeout-ms', '1500'],
      ]) {
        const r = await llmwire(args);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        const shown = url.replace(':secret@', ':***@');
        assert.ok(r.stderr.startsWith(`llmwire: cannot reach the broker at ${shown}`), r.stderr);
        assert.match(r.stderr, what);
        assert.match(r.stderr, /\[unreachable\]\n$/);
        assert.doesNotMatch(r.stderr, /secret/);
        assert.doesNotMatch(r.stderr, NO_STACK);
      }
    }
  });

  test('a sqlite data dir without a journal is unreachable; memory is refused as in-process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-cli-'));
    try {
      const r = await llmwire([
        'dlq',
        'list',
        '--transport',
        'sqlite',
        '--data-dir',
        dir,
        '--queue',
        'q',
      ]);
      assert.equal(r.code, 3);
      assert.match(
        r.stderr,
        new RegExp(`no sqlite journal at ${dir}/journal\\.db; check --data-dir`),
      );
      const mem = await llmwire(['dlq', 'list', '--transport', 'memory', '--queue', 'q']);
      assert.equal(mem.code, 2);
      assert.match(mem.stderr, /inside one process.*ws:\/\/.*\[config_invalid\]/);
      const tail = await llmwire(['tail', 'x.>', '--transport', 'sqlite']);
      assert.equal(tail.code, 2);
      assert.match(tail.stderr, /sqlite carries messages inside one process/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dlq refuses incomplete commands before connecting, with what to write instead', async () => {
    const cases = [
      [
        ['dlq', 'replay', '--transport', 'nats://127.0.0.1:1', '--queue', 'q'],
        /takes ids or --all/,
      ],
      [
        ['dlq', 'purge', 'x', '--all', '--transport', 'nats://127.0.0.1:1', '--queue', 'q'],
        /takes ids or --all/,
      ],
      [['dlq', 'show', '--transport', 'nats://127.0.0.1:1', '--queue', 'q'], /exactly one id/],
      [['dlq', 'list', '--queue', 'q'], /needs --transport/],
      [['dlq', 'list', '--transport', 'nats://127.0.0.1:1'], /needs --queue/],
      [
        ['dlq', 'drop', '--transport', 'nats://127.0.0.1:1', '--queue', 'q'],
        /unknown dlq action 'drop'/,
      ],
      [['tail', 'a..b', '--transport', 'nats://127.0.0.1:1'], /invalid subject pattern/],
    ] as const;
    for (const [args, message] of cases) {
      // LLMWIRE_ALL is not read: --all must be typed.
      const r = await llmwire([...args], { LLMWIRE_ALL: '1' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\[config_invalid\]\n$/);
    }
  });
});
