// Namespaces: two deployments on one bus, each with its gateway and workers under its own
// `NAME.llm.*` subjects, see neither each other's workers nor each other's requests; a name
// that is not one subject token is refused with a typed error, by the library and the CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { createBus } from '../../src/bus/index.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import { createGateway, type Gateway } from '../../src/llm/gateway/server.js';
import { llmSubjects } from '../../src/llm/subjects.js';
import { createWorker, type Worker } from '../../src/llm/worker/worker.js';
import { ConfigError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { waitUntil } from './process-stack.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const messages = [{ role: 'user' as const, content: 'hello' }];

function llmwire(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { ...process.env, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        resolve({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
          stdout,
          stderr,
        });
      },
    );
  });
}

describe('namespaces', () => {
  test('two namespaces on one bus do not see each other’s workers or requests', async () => {
    const transport = createMemoryTransport();
    const bus = createBus({ transport, source: 'test', onError: () => undefined });
    await bus.ready;
    const gateways: Gateway[] = [];
    const workers: Worker[] = [];
    try {
      const seen: string[] = [];
      const tap = bus.subscribe('>', (msg) => void seen.push(msg.envelope.subject));
      await tap.ready;
      for (const ns of ['blue', 'green', undefined]) {
        gateways.push(
          createGateway({ bus, port: 0, ...(ns === undefined ? {} : { namespace: ns }) }),
        );
      }
      const [blue, green, plain] = gateways as [Gateway, Gateway, Gateway];
      for (const g of gateways) await g.listen();
      for (const [ns, id] of [
        ['blue', 'wb'],
        ['green', 'wg'],
      ] as const) {
        const w = createWorker({
          bus,
          backend: createSimBackend({ models: ['sim'], ttftMs: 0, itlMs: 0 }),
          id,
          namespace: ns,
          heartbeatMs: 50,
        });
        await w.start();
        workers.push(w);
      }
      await waitUntil(
        () => blue.registry.get('wb') !== undefined && green.registry.get('wg') !== undefined,
        'each gateway to hear its worker',
      );
      // A few more heartbeats go by: none of them may cross.
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        blue.registry.all().map((w) => w.id),
        ['wb'],
      );
      assert.deepEqual(
        green.registry.all().map((w) => w.id),
        ['wg'],
      );
      assert.deepEqual(plain.registry.all(), [], 'the default namespace sees neither');
      assert.equal(blue.registry.get('wb')?.address, 'blue.llm.worker.wb.chat');

      for (const [gateway, id] of [
        [blue, 'wb'],
        [green, 'wg'],
      ] as const) {
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 });
        for (let i = 0; i < 3; i++) {
          const { response } = await client.chat.completions
            .create({ model: 'sim', messages, max_tokens: 4 })
            .withResponse();
          assert.equal(response.headers.get('x-llmwire-worker'), id);
        }
      }
      const plainClient = new OpenAI({ baseURL: `${plain.url}/v1`, apiKey: 'x', maxRetries: 0 });
      await assert.rejects(
        plainClient.chat.completions.create({ model: 'sim', messages }),
        (err: { status?: number }) => err.status === 404,
      );
      assert.deepEqual(
        workers.map((w) => w.stats.completed),
        [3, 3],
        'each worker served only its own gateway',
      );
      // The plain gateway asks its own namespace for params rollouts and heartbeats there as a
      // gateway; nothing else is there.
      const own = (s: string) => s === 'llm.params.list' || s.startsWith('llm.gateway.heartbeat.');
      const prefixes = new Set(seen.filter((s) => !own(s)).map((s) => s.split('.')[0]));
      assert.ok(
        !prefixes.has('llm'),
        `no message on the default subjects: ${[...prefixes].join(', ')}`,
      );
      assert.ok(seen.includes('blue.llm.heartbeat.wb') && seen.includes('green.llm.heartbeat.wg'));
      for (const ns of ['blue', 'green']) {
        assert.ok(
          seen.some((s) => s.startsWith(`${ns}.llm.gateway.heartbeat.`)),
          `the ${ns} gateway heartbeats in its namespace`,
        );
      }
      assert.ok(
        seen.includes('blue.llm.worker.wb.chat') && seen.includes('green.llm.worker.wg.chat'),
      );
      tap.unsubscribe();
    } finally {
      for (const w of workers) await w.stop();
      for (const g of gateways) await g.close();
      await bus.close();
      await transport.close();
    }
  });

  test('a namespace that is not one subject token is refused with config_invalid', async () => {
    for (const bad of ['', 'a.b', 'has space', 'x>', '*', 'n'.repeat(65)]) {
      assert.throws(() => llmSubjects(bad), ConfigError, JSON.stringify(bad));
      const bus = createBus({ transport: createMemoryTransport(), source: 'test' });
      assert.throws(
        () => createWorker({ bus, backend: createSimBackend({ models: ['sim'] }), namespace: bad }),
        (err: ConfigError) => err instanceof ConfigError && err.code === 'config_invalid',
      );
      assert.throws(() => createGateway({ bus, port: 0, namespace: bad }), ConfigError);
      await bus.close();
    }
    assert.equal(llmSubjects('ok_Name-1').heartbeat('w1'), 'ok_Name-1.llm.heartbeat.w1');
    assert.equal(llmSubjects('ok_Name-1').heartbeats, 'ok_Name-1.llm.heartbeat.*');
    assert.equal(llmSubjects().heartbeat('w1'), 'llm.heartbeat.w1', 'default subjects: no prefix');
  });

  test('the CLI takes --namespace, LLMWIRE_NAMESPACE and the config key, and refuses bad names', async () => {
    const flag = await llmwire(['worker', '--namespace', 'a.b', '--connect', 'memory']);
    assert.equal(flag.code, 2, flag.stderr);
    assert.match(flag.stderr, /namespace 'a\.b' must be .*\[config_invalid\]/);

    const env = await llmwire(['gateway', '--transport', 'memory', '--port', '0', '--once'], {
      LLMWIRE_NAMESPACE: 'bad name',
    });
    assert.equal(env.code, 2, env.stderr);
    assert.match(env.stderr, /namespace 'bad name' must be .*\[config_invalid\]/);

    const dir = mkdtempSync(join(tmpdir(), 'llmwire-ns-'));
    try {
      const file = join(dir, 'llmwire.yaml');
      writeFileSync(file, 'namespace: team-a\ntransport: memory\n');
      const ok = await llmwire(['up', '--config', file, '--port', '0', '--workers', '1', '--once']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /namespace {3}team-a \(subjects team-a\.llm\.\*\)/);
      writeFileSync(file, 'namespace: "team.a"\ntransport: memory\n');
      const bad = await llmwire(['up', '--config', file, '--port', '0', '--once']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /\[config_invalid\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
