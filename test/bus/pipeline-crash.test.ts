// A pipeline of three stages whose middle stage scatters 1,000 shards, run by stage processes
// (real children) on a SQLite file shared by the processes and on NATS. The process holding the
// scatter stage is killed with SIGKILL in the middle of the shards and a replacement started:
// the run still completes, with every shard's result exactly once and in shard order.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { deleteStreams } from '../transport/fixtures/nats-server.js';
import { declare } from './fixtures/pipeline-decl.js';

const CHILD = fileURLToPath(new URL('./fixtures/pipeline-child.js', import.meta.url));
const SHARDS = 1000;

/** A stage process and every line it printed. */
class Stage {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private readonly child: ChildProcess;

  constructor(
    readonly label: string,
    args: string[],
    onLine: (stage: Stage, line: string) => void,
  ) {
    this.child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? ''; // a line cut by the kill is not a claim
      for (const line of parts) {
        this.lines.push(line);
        onLine(this, line);
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => resolve({ code, signal })),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** The shards this process started. */
  shards(): number[] {
    return this.lines.flatMap((l) => {
      const [verb, shard] = l.split(' ');
      return verb === 'shard' && shard !== undefined ? [Number(shard)] : [];
    });
  }
}

async function crashRun(
  t: TestContext,
  args: (name: string) => string[],
  transport: () => Promise<Transport>,
): Promise<void> {
  const name = `c${randomBytes(4).toString('hex')}`;
  const stages: Stage[] = [];
  t.after(() => stages.forEach((s) => s.kill()));
  let started = 0;
  let victim: Stage | undefined;
  let killedAt = 0;
  const onLine = (stage: Stage, line: string) => {
    if (!line.startsWith('shard ')) return;
    started++;
    // Kill the process waiting on the scatter while it runs a shard of its own, a third in.
    if (
      victim === undefined &&
      started >= SHARDS * 0.3 &&
      stage.lines.some((l) => l.startsWith('map '))
    ) {
      victim = stage;
      killedAt = started;
      stage.kill();
      stages.push(new Stage('replacement', args(name), onLine));
    }
  };
  stages.push(new Stage('a', args(name), onLine), new Stage('b', args(name), onLine));

  const client = await transport();
  const bus = createBus({ transport: client, onError: () => undefined });
  try {
    const { pipeline } = declare(bus, name);
    const run = await pipeline.submit({ count: SHARDS }, { id: `run-${name}` });
    const limit = AbortSignal.timeout(100_000);
    const out = await pipeline.wait(run, { signal: limit, pollMs: 100 });

    assert.ok(victim !== undefined, 'a stage process was killed mid-run');
    const exit = await victim.exited;
    assert.equal(exit.signal, 'SIGKILL', `the victim was killed, not exited: ${victim.stderr}`);
    assert.ok(killedAt < SHARDS, `killed after ${killedAt} shard starts, before the end`);
    assert.equal(out.status, 'done', JSON.stringify(out).slice(0, 500));
    assert.ok(out.status === 'done');
    assert.equal(out.value.count, SHARDS);
    assert.deepEqual(
      out.value.results.map((r) => r.n),
      Array.from({ length: SHARDS }, (_, i) => i),
      'every shard exactly once, in shard order',
    );
    assert.ok(out.value.results.every((r) => r.sq === r.n * r.n));

    const starts = stages.flatMap((s) => s.shards());
    const twice = starts.length - new Set(starts).size;
    const pids = new Set(out.value.results.map((r) => r.pid));
    t.diagnostic(
      `killed ${victim.label} after ${killedAt} shard starts; ${starts.length} starts for ` +
        `${SHARDS} shards (${twice} run again); results from ${pids.size} processes`,
    );
    assert.ok(twice > 0, 'a shard the killed process held ran again elsewhere');
    // The scatter stage the killed process held was taken over: started again elsewhere, it
    // found the job already queued and waited for it.
    const takenOver = stages
      .filter((s) => s !== victim)
      .flatMap((s) => s.lines.filter((l) => l.startsWith('map ')));
    assert.ok(
      takenOver.some((l) => Number(l.split(' ')[2]) >= 2),
      `the scatter stage was delivered again to another process: ${takenOver.join(', ')}`,
    );
    assert.ok(
      victim.shards().length > 0 && stages.at(-1)!.shards().length > 0,
      'the killed process and its replacement both ran shards',
    );
  } finally {
    stages.forEach((s) => s.kill());
    await bus.close();
    await client.close();
  }
}

test(
  'pipeline (sqlite file, processes) - 1,000 shards exactly once after a SIGKILL of a stage process',
  { timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-pipeline-crash-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'bus.db');
    await crashRun(
      t,
      (name) => ['sqlite', path, name],
      () => Promise.resolve(createSqliteTransport({ path })),
    );
  },
);

if (await requires('pipeline on nats', NEEDS.nats)) {
  test(
    'pipeline (nats, processes) - 1,000 shards exactly once after a SIGKILL of a stage process',
    { timeout: 120_000 },
    async (t) => {
      const streamPrefix = `P${randomBytes(4).toString('hex')}`;
      t.after(() => deleteStreams(NATS_URL, streamPrefix));
      await crashRun(
        t,
        (name) => ['nats', NATS_URL, name, streamPrefix],
        () => createNatsTransport({ servers: NATS_URL, streamPrefix }),
      );
    },
  );
}
