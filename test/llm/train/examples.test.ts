// The examples run. examples/param-sync.ts: a coordinator and three trainers,
// each on its own bus, exchange versioned snapshots and per-trainer updates through blobs and a
// durable queue, on the memory transport and on the embedded SQLite file. examples/train-feed.ts:
// two runs on one file train on every batch once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  runCoordinator,
  runTrainer,
  snapshotSubject,
  type SnapshotAnnounce,
} from '../../../examples/param-sync.js';
import { trainFeed } from '../../../examples/train-feed.js';
import { createBus, type Bus } from '../../../src/bus/index.js';
import { createMemoryTransport } from '../../../src/transport/memory/index.js';
import { createSqliteTransport } from '../../../src/transport/sqlite/index.js';

const TRAINERS = ['t0', 't1', 't2'];
const ROUNDS = 3;
/** Each trainer pulls the parameters towards its own target, by half the distance. */
const targets: Record<string, number[]> = { t0: [1, 0, 3], t1: [4, 2, 0], t2: [1, 7, 0] };

function expected(): number[] {
  let p = [0, 0, 0];
  for (let r = 0; r < ROUNDS; r++) {
    p = p.map((v, i) => {
      const mean = TRAINERS.reduce((s, t) => s + (targets[t]![i]! - v) * 0.5, 0) / TRAINERS.length;
      return Math.fround(v + mean);
    });
  }
  return p;
}

async function scenario(open: () => Bus): Promise<void> {
  const job = `job${Math.random().toString(36).slice(2, 8)}`;
  const coordinatorBus = open();
  const versions: SnapshotAnnounce[] = [];
  const watch = coordinatorBus.subscribe<{ data: SnapshotAnnounce }>(snapshotSubject(job), (m) => {
    versions.push(m.body.data);
  });
  await watch.ready;
  const trainers = TRAINERS.map((id) =>
    runTrainer(open(), {
      job,
      id,
      lastVersion: ROUNDS - 1,
      computeUpdate: (params) => Float32Array.from(params, (v, i) => (targets[id]![i]! - v) * 0.5),
    }),
  );
  const final = await runCoordinator(coordinatorBus, {
    job,
    trainers: TRAINERS,
    rounds: ROUNDS,
    initial: new Float32Array(3),
  });
  const sent = await Promise.all(trainers);
  assert.deepEqual([...final], expected(), 'the averaged updates of every round');
  for (const s of sent) assert.deepEqual(s, [0, 1, 2], 'one update per version per trainer');
  assert.deepEqual(
    versions.map((v) => v.version),
    [0, 1, 2, 3],
  );
  const last = await coordinatorBus.blobs.get(`params/${job}`, { version: 'v3' });
  assert.deepEqual([...new Float32Array(last.buffer, last.byteOffset, 3)], expected());
  watch.unsubscribe();
}

test('param sync - a coordinator and three trainers on the memory transport', async () => {
  const transport = createMemoryTransport();
  try {
    await scenario(() => createBus({ transport }));
  } finally {
    await transport.close();
  }
});

test('param sync - a coordinator and three trainers on the sqlite file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-params-'));
  const path = join(dir, 'bus.db');
  // One transport: its publish/subscribe side is in-process (across processes, `llmwire up`'s
  // hub carries it). It keeps no blobs of its own in this tree: a memory store stands in.
  const transport = createSqliteTransport({ path });
  const blobs = createMemoryTransport().blobs!();
  try {
    await scenario(() => createBus({ transport, blobs }));
  } finally {
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train feed example - a second run resumes where the first stopped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-feed-example-'));
  try {
    const path = join(dir, 'feed.db');
    const first = await trainFeed(path, { batches: 20, trainSteps: 10 });
    const second = await trainFeed(path, { batches: 20, trainSteps: 10 });
    const all = [...first.steps, ...second.steps].sort((a, b) => a - b);
    assert.deepEqual(all, [...Array(20).keys()], 'every batch once over the two runs');
    const third = await trainFeed(path, { batches: 20, trainSteps: 0 });
    assert.deepEqual(third.steps, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
