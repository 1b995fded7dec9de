// Params rollouts on an in-process fleet (one memory bus): a pushed adapter version reaches
// every worker serving the model, is loaded and announced, listed by /v1/models, and requests
// for it go only to the workers that hold it; a gradual rollout splits unpinned traffic.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import OpenAI, { APIError } from 'openai';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createSimBackend } from '../../src/llm/backends/sim/index.js';
import { createGateway, type Gateway } from '../../src/llm/gateway/server.js';
import { createParams } from '../../src/llm/params/client.js';
import { createParamsService } from '../../src/llm/params/service.js';
import { createWorker, type Worker } from '../../src/llm/worker/worker.js';
import { ConfigError, ForbiddenError, NotFoundError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { BlobStore } from '../../src/transport/blobs.js';
import { waitUntil } from '../wait.js';

interface Fleet {
  bus: Bus;
  gateway: Gateway;
  workers: Worker[];
  dir: string;
  client: OpenAI;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A gateway, the rollout service, three workers taking rollouts and a fourth that does not. */
async function startFleet(blobs?: (store: BlobStore) => BlobStore): Promise<Fleet> {
  const transport = createMemoryTransport();
  const bus = createBus({ transport, source: 'test', onError: () => undefined });
  const service = createParamsService({ bus });
  await service.start();
  const gateway = createGateway({ bus, port: 0 });
  const url = await gateway.listen();
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-params-'));
  const workers: Worker[] = [];
  for (let i = 1; i <= 4; i++) {
    const workerBus =
      blobs === undefined
        ? bus
        : createBus({ transport, blobs: blobs(transport.blobs!()), onError: () => undefined });
    const w = createWorker({
      bus: workerBus,
      backend: createSimBackend({ models: ['sim'], paramsLoadMs: 5 }),
      id: `w${i}`,
      heartbeatMs: 50,
      params: i === 4 ? false : { dir: join(dir, `w${i}`) },
    });
    await w.start();
    workers.push(w);
  }
  await waitUntil(() => gateway.registry.all().length === 4, 'four workers');
  return {
    bus,
    gateway,
    workers,
    dir,
    client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
    async [Symbol.asyncDispose]() {
      for (const w of workers) await w.stop();
      service.stop();
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
}

/** Waits until every one of `ids` announces `version` of `adapter` as loaded. */
async function announced(fleet: Fleet, ids: string[], adapter: string, version: string) {
  await waitUntil(
    () =>
      ids.every((id) =>
        fleet.gateway.registry
          .get(id)
          ?.params.some(
            (p) => p.adapter === adapter && p.version === version && p.state === 'loaded',
          ),
      ),
    `${ids.join(',')} to announce ${adapter}:${version}`,
  );
}

async function chat(fleet: Fleet, model: string, i: number) {
  const { data, response } = await fleet.client.chat.completions
    .create({ model, messages: [{ role: 'user', content: `hello #${i}` }], max_tokens: 4 })
    .withResponse();
  return { model: data.model, worker: response.headers.get('x-llmwire-worker') };
}

describe('params - rollouts to a fleet', () => {
  test('a pushed adapter is loaded by every worker of the model, listed, and routed only to holders', async () => {
    await using fleet = await startFleet();
    const params = createParams(fleet.bus);
    const file = randomBytes(300_000);
    const record = await params.push(file, {
      model: 'sim',
      adapter: 'fr',
      version: 'v1',
      partBytes: 64 * 1024,
    });
    assert.equal(record.blob.name, 'params/sim/adapter/fr');
    assert.equal(record.blob.size, file.byteLength);
    assert.equal(record.share, 1);
    await announced(fleet, ['w1', 'w2', 'w3'], 'fr', 'v1');
    assert.deepEqual(fleet.gateway.registry.get('w4')?.params, [], 'w4 takes no rollouts');
    // The file each holder loaded is on its disk under its own dir.
    for (const id of ['w1', 'w2', 'w3']) {
      assert.deepEqual(readdirSync(join(fleet.dir, id, 'sim@fr')), ['v1']);
    }

    const models = await fleet.client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['sim', 'sim@fr'],
    );

    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await chat(fleet, i % 2 === 0 ? 'sim@fr' : 'sim@fr:v1', i);
      assert.equal(r.model, 'sim@fr:v1', 'the answer names the version that served it');
      seen.set(r.worker ?? '', (seen.get(r.worker ?? '') ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), ['w1', 'w2', 'w3'], 'w4 never got one');
    // The base model still reaches every worker, w4 included.
    const base = new Set<string>();
    for (let i = 0; i < 12; i++) base.add((await chat(fleet, 'sim', i)).worker ?? '');
    assert.ok(base.has('w4'), [...base].join(','));
  });

  test('an adapter or a version nobody holds is a typed no_route error; an unknown model stays 404 not_found', async () => {
    await using fleet = await startFleet();
    await createParams(fleet.bus).push(randomBytes(1000), {
      model: 'sim',
      adapter: 'fr',
      version: 'v1',
    });
    await announced(fleet, ['w1', 'w2', 'w3'], 'fr', 'v1');
    for (const model of ['sim@de', 'sim@fr:v9', 'sim:v1']) {
      const err = await chat(fleet, model, 0).then(
        () => assert.fail(`${model} was answered`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof APIError, String(err));
      assert.equal(err.status, 404, model);
      assert.equal((err.error as { code?: string }).code, 'no_route', model);
      assert.match(err.message, /no worker holds/);
    }
    const err = await chat(fleet, 'nope@fr', 0).then(
      () => assert.fail('answered'),
      (e: unknown) => e as APIError,
    );
    assert.equal((err.error as { code?: string }).code, 'not_found');
  });

  test('a gradual rollout sends its share of unpinned traffic to the new version, the rest to the one before', async () => {
    await using fleet = await startFleet();
    const params = createParams(fleet.bus);
    await params.push(randomBytes(2000), { model: 'sim', adapter: 'fr', version: 'v1' });
    await announced(fleet, ['w1', 'w2', 'w3'], 'fr', 'v1');
    const v2 = await params.push(randomBytes(2000), {
      model: 'sim',
      adapter: 'fr',
      version: 'v2',
      share: 0.25,
    });
    assert.equal(v2.previous, 'v1');
    await announced(fleet, ['w1', 'w2', 'w3'], 'fr', 'v2');
    // Both versions stay loaded (keepVersions 2), so either may be picked on any holder.
    await waitUntil(
      () => fleet.gateway.rollouts.status()[0]?.share === 0.25,
      'the gateway to hear v2',
    );
    const versions: string[] = [];
    for (let i = 0; i < 40; i++) versions.push((await chat(fleet, 'sim@fr', i)).model);
    assert.equal(versions.filter((v) => v === 'sim@fr:v2').length, 10, versions.join(' '));
    assert.equal(versions.filter((v) => v === 'sim@fr:v1').length, 30);
    // A pinned request is not counted in the split.
    assert.equal((await chat(fleet, 'sim@fr:v1', 0)).model, 'sim@fr:v1');

    // Promoted: all unpinned traffic goes to v2.
    const promoted = await params.publish({ ...v2, share: 1, createdAt: Date.now() });
    assert.equal(promoted.previous, 'v1', 'promoting keeps the version it replaced');
    await waitUntil(() => fleet.gateway.rollouts.status()[0]?.share === 1, 'the promotion');
    for (let i = 0; i < 5; i++) assert.equal((await chat(fleet, 'sim@fr', i)).model, 'sim@fr:v2');

    const [status] = fleet.gateway.rollouts.status();
    assert.deepEqual(
      { ...status, createdAt: 0 },
      {
        model: 'sim',
        adapter: 'fr',
        version: 'v2',
        previous: 'v1',
        share: 1,
        size: 2000,
        createdAt: 0,
        workers: 4,
        loaded: 3,
        loading: 0,
        failed: 0,
      },
    );
  });

  test('a worker keeps the newest versions only, unloading the oldest', async () => {
    await using fleet = await startFleet();
    const params = createParams(fleet.bus);
    for (const v of ['v1', 'v2', 'v3']) {
      await params.push(randomBytes(500), { model: 'sim', adapter: 'fr', version: v });
      await announced(fleet, ['w1'], 'fr', v);
    }
    await waitUntil(
      () =>
        fleet.gateway.registry
          .get('w1')
          ?.params.map((p) => p.version)
          .join() === 'v2,v3',
      'v1 to be unloaded',
    );
    assert.deepEqual(readdirSync(join(fleet.dir, 'w1', 'sim@fr')).sort(), ['v2', 'v3']);
    const err = await chat(fleet, 'sim@fr:v1', 0).catch((e: unknown) => e as APIError);
    assert.equal(err instanceof APIError ? err.status : 0, 404);
  });

  test('a worker restarted mid-download fetches only the parts it did not have', async () => {
    const gets = new Map<string, number>();
    const counting = (store: BlobStore): BlobStore =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'getPart') {
            return (upload: string, index: number) => {
              gets.set(upload, (gets.get(upload) ?? 0) + 1);
              return target.getPart(upload, index);
            };
          }
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    await using fleet = await startFleet(counting);
    const params = createParams(fleet.bus);
    // w1 stops; the blob is put; half of it is downloaded into w1's path, as a cut download leaves it.
    await fleet.workers[0]!.stop();
    const file = randomBytes(16 * 64 * 1024);
    const manifest = await fleet.bus.blobs.put('params/sim/adapter/fr', file, {
      version: 'v1',
      partBytes: 64 * 1024,
    });
    const path = join(fleet.dir, 'w1', 'sim@fr', 'v1');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(fleet.dir, 'w1', 'sim@fr'), { recursive: true });
    const cut = new AbortController();
    await fleet.bus.blobs
      .getFile('params/sim/adapter/fr', path, {
        version: 'v1',
        concurrency: 1,
        signal: cut.signal,
        onProgress: (p) => {
          if (p.part === 7) cut.abort();
        },
      })
      .catch(() => undefined);
    gets.clear();
    await params.publish({
      rollout: 1,
      model: 'sim',
      adapter: 'fr',
      version: 'v1',
      blob: {
        name: manifest.name,
        version: manifest.version,
        sum: manifest.sum,
        size: manifest.size,
      },
      share: 1,
      createdAt: Date.now(),
    });
    await announced(fleet, ['w2', 'w3'], 'fr', 'v1');
    const fetchedByOthers = [...gets.values()].reduce((a, b) => a + b, 0);
    assert.equal(fetchedByOthers, 32, 'w2 and w3 fetched all 16 parts each');
    gets.clear();
    // w1 comes back with the same id and dir: it catches up from the service's list.
    const w1 = createWorker({
      bus: createBus({
        transport: fleet.bus.transport,
        blobs: counting(fleet.bus.transport.blobs!()),
        onError: () => undefined,
      }),
      backend: createSimBackend({ models: ['sim'], paramsLoadMs: 5 }),
      id: 'w1',
      heartbeatMs: 50,
      params: { dir: join(fleet.dir, 'w1') },
    });
    fleet.workers[0] = w1;
    await w1.start();
    await announced(fleet, ['w1'], 'fr', 'v1');
    const fetched = [...gets.values()].reduce((a, b) => a + b, 0);
    assert.ok(fetched > 0 && fetched <= 8, `w1 fetched ${fetched} parts, at most the 8 it lacked`);
  });
});

describe('params - who may push', () => {
  test('a push whose source a hub stamped for a client, worker or observer is refused', async () => {
    const transport = createMemoryTransport();
    const bus = createBus({ transport, onError: () => undefined });
    const service = createParamsService({ bus });
    await service.start();
    try {
      const manifest = await bus.blobs.put('params/sim/adapter/fr', randomBytes(100), {
        version: 'v1',
      });
      const record = {
        rollout: 1 as const,
        model: 'sim',
        adapter: 'fr',
        version: 'v1',
        blob: { name: manifest.name, version: 'v1', sum: manifest.sum, size: 100 },
        share: 1,
        createdAt: Date.now(),
      };
      for (const source of ['client:tenant-a', 'worker:gpu-1', 'observer:prom']) {
        const attacker = createBus({ transport, source, onError: () => undefined });
        await assert.rejects(createParams(attacker).publish(record), ForbiddenError, source);
        await attacker.close();
      }
      assert.deepEqual(await service.list(), [], 'nothing was stored');
      const operator = createBus({ transport, source: 'operator:ops', onError: () => undefined });
      const stored = await createParams(operator).publish(record);
      assert.equal(stored.by, 'operator:ops');
      // A record naming a blob that is not stored, or with another sum, is refused.
      await assert.rejects(
        createParams(operator).publish({ ...record, blob: { ...record.blob, version: 'v9' } }),
        NotFoundError,
      );
      await assert.rejects(
        createParams(operator).publish({
          ...record,
          blob: { ...record.blob, sum: `sha256:${'A'.repeat(43)}` },
        }),
        /has sum/,
      );
      await operator.close();
    } finally {
      service.stop();
      await bus.close();
      await transport.close();
    }
  });

  test('bad names and shares are ConfigErrors that say what to fix', async () => {
    const transport = createMemoryTransport();
    const bus = createBus({ transport, onError: () => undefined });
    const params = createParams(bus);
    for (const [options, pattern] of [
      [{ model: 'sim', version: 'v 1' }, /params version "v 1" is not valid/],
      [{ model: 'sim@x', version: 'v1' }, /params model "sim@x" is not valid/],
      [{ model: 'sim', adapter: 'a:b', version: 'v1' }, /params adapter "a:b" is not valid/],
      [{ model: 'sim', version: 'v1', share: 0 }, /share/],
      [{ model: 'sim', version: 'v1', share: 1.5 }, /share/],
    ] as const) {
      await assert.rejects(params.push(new Uint8Array(1), options), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, pattern);
        return true;
      });
    }
    await bus.close();
    await transport.close();
  });
});
