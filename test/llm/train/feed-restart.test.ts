// A trainer process SIGKILLed mid-feed and started again resumes from its checkpoint: no batch
// skipped, none processed twice after the checkpoint. Run on the embedded SQLite file and on
// NATS. The child (fixtures/feed-trainer-child.ts) records every batch it sees in a file before
// committing, and keeps its "model" (the steps applied, per shard) as the checkpoint's state.
// Run 1 is killed after writing a checkpoint but before the batch left the feed; run 2 after a
// step but before its checkpoint; run 3 drains the feed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBus, type Bus } from '../../../src/bus/index.js';
import { createFeed } from '../../../src/llm/train/index.js';
import { createNatsTransport } from '../../../src/transport/nats/index.js';
import { createSqliteTransport } from '../../../src/transport/sqlite/index.js';
import type { Transport } from '../../../src/transport/transport.js';
import { NATS_URL, NEEDS, requires } from '../../helpers/requires.js';
import { runChild, type ChildRun } from '../../transport/child-run.js';
import { deleteStreams } from '../../transport/fixtures/nats-server.js';

const CHILD = fileURLToPath(new URL('./fixtures/feed-trainer-child.js', import.meta.url));
const SHARDS = 3;
const BATCHES = 60;

interface Target {
  kind: 'sqlite' | 'nats';
  where: string;
  prefix: string;
  open(): Promise<Transport>;
}

async function restartScenario(target: Target, t: { diagnostic(m: string): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-feed-restart-'));
  const record = join(dir, 'seen.txt');
  writeFileSync(record, '');
  const transport = await target.open();
  const bus: Bus = createBus({ transport });
  const name = `restart${randomBytes(3).toString('hex')}`;
  try {
    const feed = createFeed(bus, { name, shards: SHARDS, leaseMs: 1500 });
    const published = new Map<number, number[]>();
    for (let step = 0; step < BATCHES; step++) {
      const key = `part-${step % 7}`;
      const r = await feed.publish(
        { run: 'run-1', step, examples: [{ input: `example ${step}` }] },
        { key },
      );
      published.set(r.shard, [...(published.get(r.shard) ?? []), step]);
    }
    const child = (tag: string, pause?: string): Promise<ChildRun> => {
      const args = [target.kind, target.where, target.prefix, name, String(SHARDS), record, tag];
      const env: Record<string, string> = pause === undefined ? {} : { PAUSE: pause };
      return runChild(CHILD, args, (line) => line.startsWith('paused'), 60_000, env);
    };

    const run1 = await child('1', 'after-checkpoint:8');
    assert.equal(run1.signal, 'SIGKILL', `run 1 is killed: ${run1.stderr}`);
    const [, cpShard, cpStep] = run1.lines.find((l) => l.startsWith('paused'))!.split(' ');
    const run2 = await child('2', 'after-step:10');
    assert.equal(run2.signal, 'SIGKILL', `run 2 is killed: ${run2.stderr}`);
    const [, stepShard, stepStep] = run2.lines.find((l) => l.startsWith('paused'))!.split(' ');
    const run3 = await child('3');
    assert.equal(run3.code, 0, `run 3 drains the feed: ${run3.stderr}`);
    assert.equal(run3.lines.at(-1), 'done');

    const seen = readFileSync(record, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([, tag, shard, , step]) => ({ tag: tag!, shard: Number(shard), step: Number(step) }));
    t.diagnostic(
      `seen: run 1 ${seen.filter((s) => s.tag === '1').length}, run 2 ${seen.filter((s) => s.tag === '2').length}, run 3 ${seen.filter((s) => s.tag === '3').length}`,
    );
    for (const [shard, steps] of published) {
      // The model: every step applied once, in order, carried by the checkpoints across kills.
      const cp = await feed.checkpoint(shard);
      assert.deepEqual(
        (cp?.state as { applied: number[] }).applied,
        steps,
        `shard ${shard}: the model holds every batch once, in order`,
      );
      assert.equal(cp?.steps['run-1'], steps.at(-1));
      // What the processes saw: in order, with one batch seen twice: the one whose step was done
      // in run 2 with no checkpoint. The batch checkpointed in run 1 is not seen again.
      const order = seen.filter((s) => s.shard === shard).map((s) => s.step);
      const twice = Number(stepShard) === shard ? [Number(stepStep)] : ([] as number[]);
      const expected = steps.flatMap((s) => (twice.includes(s) ? [s, s] : [s]));
      assert.deepEqual(order, expected, `shard ${shard}: what the trainers saw`);
    }
    assert.equal(
      seen.filter((s) => s.shard === Number(cpShard) && s.step === Number(cpStep)).length,
      1,
      'the batch checkpointed before the kill is skipped after it',
    );
    const stats = await feed.stats();
    assert.ok(
      stats.every((s) => s.ready + s.leased + s.delayed + s.dead === 0),
      'feed empty',
    );
  } finally {
    await bus.close();
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'feed - a trainer SIGKILLed twice resumes from its checkpoint on sqlite',
  { timeout: 180_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-feed-sqlite-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'bus.db');
    await restartScenario(
      {
        kind: 'sqlite',
        where: path,
        prefix: '-',
        open: () => Promise.resolve(createSqliteTransport({ path })),
      },
      t,
    );
  },
);

if (await requires('feed restart on nats', NEEDS.nats)) {
  const prefix = `F${randomBytes(4).toString('hex')}`;
  after(() => deleteStreams(NATS_URL, prefix));
  test(
    'feed - a trainer SIGKILLed twice resumes from its checkpoint on nats',
    { timeout: 180_000 },
    async (t) => {
      await restartScenario(
        {
          kind: 'nats',
          where: NATS_URL,
          prefix,
          open: () =>
            createNatsTransport({ servers: NATS_URL, streamPrefix: prefix, onError: () => {} }),
        },
        t,
      );
    },
  );
}
