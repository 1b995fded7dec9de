// Params rollouts across processes: a locked-down `llmwire up` (no in-process workers) and four
// `llmwire worker --backend sim` children joined with their worker credentials, three taking
// rollouts and one not. An adapter pushed with `llmwire params push` is downloaded from the up's
// blob store, loaded and announced by the three, shown by `llmwire status`, `llmwire params
// status` and /v1/models, and requests for it reach only them. Attacks: a client or worker
// credential pushing a rollout, and a forged heartbeat claiming an adapter for another worker id.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI, { APIError } from 'openai';
import { createBus } from '../../src/bus/index.js';
import { createParams } from '../../src/llm/params/client.js';
import type { GatewayStatus } from '../../src/llm/gateway/status.js';
import { ForbiddenError, type RolloutRecord, type WireError } from '../../src/protocol/index.js';
import { createWebSocketTransport } from '../../src/transport/ws/index.js';
import { Background, llmwire } from '../cli/helpers.js';
import { waitUntil } from '../wait.js';

const KEYS = {
  tenant: 'sk-tenant-a-0123456789',
  ops: 'op-ops-0123456789abcdef',
  workers: ['wk-gpu-1-0123456789abc', 'wk-gpu-2-0123456789abc', 'wk-gpu-3-0123456789abc'],
  plain: 'wk-gpu-4-0123456789abc',
  rogue: 'wk-rogue-0123456789abc',
  prom: 'ob-prom-0123456789abcd',
};

describe('params: an adapter pushed to a fleet of worker processes', () => {
  let up: Background;
  const workers: Background[] = [];
  let url = '';
  let hubUrl = '';
  let dir = '';

  const status = async (): Promise<GatewayStatus> => {
    const res = await fetch(`${url}/v1/llmwire/status`, {
      headers: { authorization: `Bearer ${KEYS.ops}` },
    });
    return (await res.json()) as GatewayStatus;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmwire-params-fleet-'));
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        identities: [
          { name: 'tenant-a', role: 'client', key: KEYS.tenant },
          { name: 'ops', role: 'operator', key: KEYS.ops },
          ...KEYS.workers.map((key, i) => ({ name: `gpu-${i + 1}`, role: 'worker', key })),
          { name: 'gpu-4', role: 'worker', key: KEYS.plain },
          { name: 'rogue', role: 'worker', key: KEYS.rogue },
          { name: 'prom', role: 'observer', key: KEYS.prom },
        ],
      }),
    );
    up = new Background([
      'up',
      '--port',
      '0',
      '--workers',
      '0',
      '--data-dir',
      dir,
      '--config',
      config,
    ]);
    await waitUntil(() => /ready/.test(up.stdout), 'llmwire up to be ready', 20_000);
    const m = /gateway\s+(http:\/\/[\d.:]+)\/v1/.exec(up.stdout);
    assert.ok(m, up.stdout);
    url = m[1]!;
    hubUrl = `${url.replace('http', 'ws')}/v1/bus`;
    const common = ['--connect', hubUrl, '--heartbeat-ms', '200', '--sim-ttft-ms', '0'];
    for (const [i, key] of KEYS.workers.entries()) {
      workers.push(
        new Background([
          'worker',
          ...common,
          '--token',
          key,
          '--params-dir',
          join(dir, `gpu-${i + 1}`),
        ]),
      );
    }
    workers.push(new Background(['worker', ...common, '--token', KEYS.plain, '--no-params']));
    await waitUntil(
      async () => (await status()).workers.length === 4,
      'four workers to join',
      20_000,
    );
  });

  after(async () => {
    for (const w of workers) await w[Symbol.asyncDispose]();
    await up?.[Symbol.asyncDispose]();
  });

  test('is loaded by all three, shown by the status commands and /v1/models, and served only by them', async () => {
    const file = join(dir, 'lora-fr.bin');
    writeFileSync(file, randomBytes(1_500_000));
    const pushed = await llmwire([
      'params',
      'push',
      file,
      '--model',
      'sim',
      '--adapter',
      'fr',
      '--version',
      'v1',
      '--part-bytes',
      String(256 * 1024),
      '--connect',
      hubUrl,
      '--token',
      KEYS.ops,
    ]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /^pushed sim@fr:v1 \(1500000 bytes, sha256:/);

    await waitUntil(
      async () => (await status()).rollouts?.[0]?.loaded === 3,
      'the three workers to load sim@fr:v1',
      20_000,
    );
    const s = await status();
    assert.deepEqual(
      s.workers.map((w) => [
        w.id,
        (w.params ?? []).map((p) => `${p.adapter}:${p.version}:${p.state}`),
      ]),
      [
        ['gpu-1', ['fr:v1:loaded']],
        ['gpu-2', ['fr:v1:loaded']],
        ['gpu-3', ['fr:v1:loaded']],
        ['gpu-4', []],
      ],
    );
    const shown = await llmwire(['status', '--gateway', url, '--key', KEYS.ops]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /gpu-1 .*sim@fr:v1/);
    assert.match(shown.stdout, /ROLLOUT\s+VERSION\s+SHARE/);
    assert.match(shown.stdout, /sim@fr\s+v1\s+100%\s+-\s+3\/4/);

    // An observer may watch the rollout (an operator too).
    const listed = await llmwire([
      'params',
      'status',
      '--connect',
      hubUrl,
      '--token',
      KEYS.prom,
      '--wait-ms',
      '800',
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /sim@fr\s+v1\s+100%\s+-\s+3\/4\s+0\s+0\s+1500000/);
    assert.match(listed.stdout, /gpu-4\s+sim\s+-/);

    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEYS.tenant, maxRetries: 0 });
    const models = await openai.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['sim', 'sim@fr'],
    );
    const served = new Map<string, number>();
    for (let i = 0; i < 24; i++) {
      const { data, response } = await openai.chat.completions
        .create({ model: 'sim@fr', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 4 })
        .withResponse();
      assert.equal(data.model, 'sim@fr:v1');
      const w = response.headers.get('x-llmwire-worker') ?? '';
      served.set(w, (served.get(w) ?? 0) + 1);
    }
    assert.deepEqual([...served.keys()].sort(), ['gpu-1', 'gpu-2', 'gpu-3'], 'gpu-4 got none');
  });

  test('a client, worker or observer credential cannot push a rollout', async () => {
    const file = join(dir, 'evil.bin');
    writeFileSync(file, randomBytes(1000));
    for (const key of [KEYS.tenant, KEYS.rogue, KEYS.prom]) {
      const r = await llmwire([
        'params',
        'push',
        file,
        '--model',
        'sim',
        '--adapter',
        'evil',
        '--version',
        'v1',
        '--connect',
        hubUrl,
        '--token',
        key,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /\[forbidden\]/);
    }
    // Straight at the push subject, with a record naming the blob the operator pushed.
    const record: RolloutRecord = (await createParams(await joinBus(KEYS.ops)).list())[0]!;
    for (const key of [KEYS.tenant, KEYS.rogue]) {
      const bus = await joinBus(key);
      await assert.rejects(
        createParams(bus).publish({ ...record, adapter: 'evil', createdAt: Date.now() }),
        ForbiddenError,
      );
    }
    const records = await createParams(await joinBus(KEYS.ops)).list();
    assert.deepEqual(
      records.map((r) => `${r.adapter}:${r.version}`),
      ['fr:v1'],
    );
  });

  test('a forged heartbeat claiming an adapter for another worker id is refused', async () => {
    const errors: WireError[] = [];
    const bus = await joinBus(KEYS.rogue, errors);
    for (const id of ['gpu-1', 'ghost']) {
      bus.publish(
        `llm.heartbeat.${id}`,
        {
          worker: id,
          status: 'ready',
          models: ['sim'],
          capacity: 100,
          inflight: 0,
          params: [{ model: 'sim', adapter: 'evil', version: 'v1', state: 'loaded' }],
        },
        { kind: 'heartbeat' },
      );
    }
    await waitUntil(() => errors.length >= 2, 'two refusals', 5000);
    assert.ok(
      errors.every((e) => e.code === 'forbidden'),
      JSON.stringify(errors),
    );
    await new Promise((r) => setTimeout(r, 500));
    const s = await status();
    assert.ok(!s.workers.some((w) => w.id === 'ghost'));
    assert.ok(!s.workers.some((w) => (w.params ?? []).some((p) => p.adapter === 'evil')));
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEYS.tenant, maxRetries: 0 });
    const err = await openai.chat.completions
      .create({ model: 'sim@evil', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 404);
    assert.equal((err.error as { code?: string }).code, 'no_route');
  });

  const opened: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const o of opened) await o.close().catch(() => undefined);
  });

  async function joinBus(key: string, errors: WireError[] = []) {
    const transport = createWebSocketTransport({
      url: hubUrl,
      token: key,
      reconnect: false,
      onError: (err) => errors.push(err as WireError),
    });
    const bus = createBus({ transport, onError: (err) => errors.push(err as WireError) });
    await bus.ready;
    opened.push({
      async close() {
        await bus.close();
        await transport.close();
      },
    });
    return bus;
  }
});
