// Who may use a pipeline's queues and records (docs/security.md, "Pipelines and scatter jobs"):
// operators run stages and start jobs; a client, and a worker without a grant naming the queue,
// is refused with `forbidden` when it tries to enqueue into a stage or read a job — on the bus
// hub (identities with the roles' default permissions) and on NATS (the users `llmwire
// nats-config` writes).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBus, createPipeline, createScatter, type Bus } from '../../src/bus/index.js';
import { natsAuthorization } from '../../src/llm/security/nats-config.js';
import { peerIdentity, type Identity } from '../../src/llm/security/roles.js';
import { ConfigError, ForbiddenError } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { unique } from '../conformance/harness.js';
import { freePort, NatsServerProcess, tempDir } from '../transport/fixtures/nats-server.js';
import { startHub } from '../transport/ws-harness.js';

const forbidden = (err: unknown) => {
  assert.ok(err instanceof ForbiddenError, `expected forbidden, got ${String(err)}`);
  assert.equal(err.code, 'forbidden');
  return true;
};

/** The host side: a scatter with one job, and a pipeline, on the hub's own process. */
async function hostParts(bus: Bus) {
  const scatter = createScatter<number, number>(bus, { name: unique('docs'), handler: (n) => n });
  const pipeline = createPipeline(bus, {
    name: unique('ingest'),
    stages: [{ name: 'split', handler: (s: string) => s.split(' ') }],
  });
  const job = await scatter.start([1, 2, 3], { id: 'job-1' });
  return { scatter, pipeline, job };
}

describe('pipelines - security on the bus hub', () => {
  test('a client may not enqueue into a stage or a scatter, nor read a job', async () => {
    const ids: Record<string, Identity> = {
      'tok-client': { name: 'acme', role: 'client' },
      'tok-worker': { name: 'w1', role: 'worker' },
      'tok-op': { name: 'ops', role: 'operator' },
    };
    const denied: string[] = [];
    await using fx = await startHub({
      authenticate: (token) => {
        const identity = token === undefined ? undefined : ids[token];
        return identity === undefined ? undefined : peerIdentity(identity);
      },
      onDenied: (e) => denied.push(`${e.identity}:${e.action}:${e.target}`),
    });
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const { scatter, pipeline, job } = await hostParts(host);
    const stageQueue = pipeline.queue('split').name;
    const client = await fx.remoteBus('client', { token: 'tok-client' });

    // Enqueue into a stage, or forge a shard of someone's job: refused.
    await assert.rejects(client.queue(stageQueue).enqueue({ run: 'r1', input: 'x y' }), forbidden);
    await assert.rejects(
      client.queue(scatter.queue.name).enqueue({
        job: job.id,
        shard: 0,
        mode: 'fail',
        retries: 0,
        item: 666,
      }),
      forbidden,
    );
    // Reading the shard items on the queue: refused too.
    await assert.rejects(client.queue(scatter.queue.name).stats(), forbidden);
    // The hub offers no record store, so a job's records cannot be reached through it at all.
    const t = client.transport;
    assert.equal('records' in t && t.records !== undefined, false);
    assert.throws(() => createScatter(client, { name: scatter.name }), ConfigError);
    assert.deepEqual(denied, [
      `acme:queue:${stageQueue}`,
      `acme:queue:${scatter.queue.name}`,
      `acme:queue:${scatter.queue.name}`,
    ]);

    // A worker by default has no queues either.
    const worker = await fx.remoteBus('worker', { token: 'tok-worker' });
    await assert.rejects(worker.queue(stageQueue).enqueue({ run: 'r2', input: 'z' }), forbidden);

    // An operator may: its message reaches the stage the host runs.
    const operator = await fx.remoteBus('operator', { token: 'tok-op' });
    await operator.queue(stageQueue).enqueue({ run: 'r3', input: 'a b' }, { id: 'r3.0' });
    const runner = pipeline.run();
    assert.deepEqual(await pipeline.wait('r3', { pollMs: 5 }), {
      v: 1,
      status: 'done',
      value: ['a', 'b'],
    });
    await runner.stop();
    // Nothing the client tried reached the stage.
    assert.equal(await pipeline.output('r1'), undefined);
    await host.close();
  });

  test('a worker granted a scatter queue by name may take its shards, and no other queue', async () => {
    const granted: Identity = {
      name: 'w2',
      role: 'worker',
      permissions: { queues: { allow: ['pipe-scatter-granted'] } },
    };
    await using fx = await startHub({
      authenticate: (token) => (token === 'tok-w2' ? peerIdentity(granted) : undefined),
    });
    const host = createBus({ transport: fx.local, source: 'host', onError: () => undefined });
    const scatter = createScatter<number, number>(host, { name: 'granted' });
    await scatter.start([7], { id: 'j' });
    const worker = await fx.remoteBus('w2', { token: 'tok-w2' });
    const shards = worker.queue(scatter.queue.name);
    assert.equal((await shards.stats()).ready, 1);
    await assert.rejects(worker.queue('pipe-stage-x-y').stats(), forbidden);
    await host.close();
  });
});

if (await requires('pipeline security on nats', NEEDS.natsServer)) {
  test('pipelines - on NATS only operators reach the queues and records; clients and workers are forbidden', async () => {
    using dir = tempDir('llmwire-pipeline-sec-');
    const users = [
      { identity: { name: 'op', role: 'operator' } as Identity, password: 'op-pw-0123456789' },
      { identity: { name: 'cl', role: 'client' } as Identity, password: 'cl-pw-0123456789' },
      { identity: { name: 'wk', role: 'worker' } as Identity, password: 'wk-pw-0123456789' },
    ];
    await using server = await new NatsServerProcess({
      port: await freePort(),
      storeDir: join(dir.path, 'js'),
      config: natsAuthorization({ users }).split('\n'),
    }).start();
    const opened: { bus: Bus; transport: Transport }[] = [];
    const open = async (user: string, password: string) => {
      const transport = await createNatsTransport({
        servers: `nats://${user}:${password}@127.0.0.1:${server.port}`,
        inboxPrefix: `_INBOX.${user}`,
        requestTimeoutMs: 2_000,
        onError: () => undefined,
      });
      const bus = createBus({ transport, inboxPrefix: `_INBOX.${user}`, onError: () => undefined });
      opened.push({ bus, transport });
      return bus;
    };
    try {
      const op = await open('op', 'op-pw-0123456789');
      const scatter = createScatter<number, number>(op, { name: 'sec', handler: (n) => n * 2 });
      const job = await scatter.start([1, 2], { id: 'job-1' });
      const work = scatter.work();
      assert.deepEqual((await job.wait({ pollMs: 20 })).values, [2, 4]);
      await work.stop();

      for (const [user, password] of [
        ['cl', 'cl-pw-0123456789'],
        ['wk', 'wk-pw-0123456789'],
      ] as const) {
        const bus = await open(user, password);
        const theirs = createScatter<number, number>(bus, { name: 'sec' });
        await assert.rejects(theirs.job('job-1').progress(), forbidden);
        await assert.rejects(theirs.start([9], { id: 'forged' }), forbidden);
        await assert.rejects(
          bus.queue(scatter.queue.name).enqueue({ job: 'job-1', shard: 0, item: 9 }),
          forbidden,
        );
      }
      // The job is as the operator left it.
      assert.deepEqual((await scatter.job('job-1').wait()).values, [2, 4]);
    } finally {
      for (const { bus, transport } of opened.reverse()) {
        await bus.close();
        await transport.close();
      }
    }
  });
}
