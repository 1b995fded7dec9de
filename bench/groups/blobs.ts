// The blobs group: `bus.blobs` put + get of one large blob, on NATS against raw @nats-io/obj
// put + get of the same bytes in a bucket of its own on the same server, and on SQLite (file to
// file, through the transport's file) against a plain fs.copyFile of a file of the same size.
// Rounds alternate which side goes first; each side's figure is MiB moved (put and get) per s.
import { randomBytes } from 'node:crypto';
import { copyFile, rm, stat, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect as natsConnect } from '@nats-io/transport-node';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import { NATS_URL } from '../../test/helpers/broker-urls.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { median, recordCpu, spreadOf, type Target } from '../harness.js';

const MiB = 1024 * 1024;
const FULL_BYTES = 128 * MiB;
const QUICK_BYTES = 16 * MiB;
/** Rounds per side; one round is one put + get, a second or more at these sizes. */
const FULL = { rounds: 4, roundMs: 1000, warmupMs: 0 };
const QUICK = { rounds: 2, roundMs: 100, warmupMs: 0 };

/** One timed put + get of `bytes`; resolves with its wall time in ms. */
type Side = (round: number) => Promise<number>;

async function timed(work: () => Promise<void>): Promise<number> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  recordCpu(process.cpuUsage(cpu), ms);
  return ms;
}

/** Runs both sides in alternating order and adds a row of MiB/s (put + get counted once each). */
async function compare(
  ctx: GroupContext,
  spec: {
    name: string;
    bytes: number;
    rounds: number;
    subject: Side;
    baselineName: string;
    baseline: Side;
    target?: Target;
  },
): Promise<void> {
  const rate = (ms: number) => (2 * spec.bytes) / MiB / (ms / 1000);
  const subj: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < spec.rounds; r++) {
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = rate(await spec.subject(r));
      b = rate(await spec.baseline(r));
    } else {
      b = rate(await spec.baseline(r));
      a = rate(await spec.subject(r));
    }
    subj.push(a);
    base.push(b);
    ratios.push(a / b);
  }
  ctx.add({
    name: spec.name,
    value: median(subj),
    unit: 'MiB/s',
    baseline: spec.baselineName,
    baselineValue: median(base),
    ratio: median(ratios),
    spread: spreadOf(subj),
    baselineSpread: spreadOf(base),
    target: spec.target ?? null,
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

async function natsProblem(): Promise<string | undefined> {
  try {
    const nc = await natsConnect({ servers: NATS_URL, maxReconnectAttempts: 0, timeout: 2_000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return `no NATS at ${NATS_URL} (${message(err)})`;
  }
}

async function measureNats(ctx: GroupContext, data: Uint8Array, rounds: number): Promise<void> {
  const problem = await natsProblem();
  if (problem !== undefined) {
    ctx.log(`skipped NATS: ${problem}`);
    return;
  }
  const run = randomBytes(4).toString('hex');
  const transport = await createNatsTransport({ servers: NATS_URL, streamPrefix: `BENCH${run}` });
  const bus: Bus = createBus({ transport });
  const nc = await natsConnect({ servers: NATS_URL });
  const rawBucket = `BENCHRAW${run}_OBJ`;
  try {
    await bus.ready;
    // Both buckets exist before the first timed round.
    await bus.blobs.list();
    const os = await new Objm(jetstream(nc)).create(rawBucket);
    const llmwire: Side = async (round) => {
      const name = `bench/blob-${round}`;
      let got = 0;
      const ms = await timed(async () => {
        await bus.blobs.put(name, data, { version: 'v1' });
        got = (await bus.blobs.get(name, { maxBytes: data.byteLength })).byteLength;
      });
      if (got !== data.byteLength) throw new Error(`bus.blobs.get returned ${got} bytes`);
      await bus.blobs.delete(name);
      return ms;
    };
    const raw: Side = async (round) => {
      const name = `blob-${round}`;
      let got = 0;
      const ms = await timed(async () => {
        await os.putBlob({ name }, data);
        got = (await os.getBlob(name))?.byteLength ?? 0;
      });
      if (got !== data.byteLength) throw new Error(`raw getBlob returned ${got} bytes`);
      await os.delete(name);
      return ms;
    };
    await compare(ctx, {
      name: `NATS: bus.blobs put + get of ${data.byteLength / MiB} MiB`,
      bytes: data.byteLength,
      rounds,
      subject: llmwire,
      baselineName: 'raw @nats-io/obj putBlob + getBlob, same server',
      baseline: raw,
      target: { on: 'ratio', min: 0.8 },
    });
  } finally {
    await bus.close();
    await transport.close();
    const jsm = await jetstreamManager(nc);
    for (const stream of [`OBJ_BENCH${run}_BLOBS`, `OBJ_${rawBucket}`]) {
      await jsm.streams.delete(stream).catch(() => undefined);
    }
    await nc.close();
  }
}

async function measureSqlite(ctx: GroupContext, data: Uint8Array, rounds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-blobs-'));
  const transport = createSqliteTransport({ path: join(dir, 'blobs.db') });
  const bus = createBus({ transport });
  try {
    await bus.ready;
    const source = join(dir, 'source.bin');
    await writeFile(source, data);
    const llmwire: Side = async (round) => {
      const name = `bench/blob-${round}`;
      const out = join(dir, `out-${round}.bin`);
      const ms = await timed(async () => {
        await bus.blobs.putFile(name, source, { version: 'v1' });
        await bus.blobs.getFile(name, out);
      });
      if ((await stat(out)).size !== data.byteLength) throw new Error('getFile size differs');
      await rm(out);
      await bus.blobs.delete(name);
      return ms;
    };
    const copy: Side = async (round) => {
      const out = join(dir, `copy-${round}.bin`);
      const ms = await timed(async () => {
        // A copy in and a copy out, as the blob is written to the store and read back.
        await copyFile(source, `${out}.in`);
        await copyFile(`${out}.in`, out);
      });
      await rm(out);
      await rm(`${out}.in`);
      return ms;
    };
    await compare(ctx, {
      name: `SQLite: bus.blobs putFile + getFile of ${data.byteLength / MiB} MiB`,
      bytes: data.byteLength,
      rounds,
      subject: llmwire,
      baselineName: 'fs.copyFile of the file and back, same disk',
      baseline: copy,
    });
  } finally {
    await bus.close();
    await transport.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const blobsGroup: BenchGroup = {
  name: 'blobs',
  about:
    `Blobs of ${FULL_BYTES / MiB} MiB (random bytes), put then read back whole; MiB/s counts ` +
    'the bytes of the put and of the get. NATS: `bus.blobs.put` + `get` (4 MiB parts, four in ' +
    'flight, on the JetStream Object Store) against raw @nats-io/obj `putBlob` + `getBlob` of the ' +
    'same bytes as one object in a bucket of its own, same server and run. SQLite: ' +
    '`bus.blobs.putFile` + `getFile` (file to the transport file and back to a file, synced) ' +
    'against `fs.copyFile` of the same file twice (in and back), same disk. ' +
    `${FULL.rounds} rounds, each side first in turn; each blob is deleted between rounds.`,
  settings: { full: FULL, quick: QUICK },
  async run(ctx) {
    const bytes = ctx.quick ? QUICK_BYTES : FULL_BYTES;
    const data = randomBytes(bytes);
    const rounds = ctx.settings.rounds;
    await measureNats(ctx, data, rounds);
    await measureSqlite(ctx, data, rounds);
    return { rows: ctx.rows };
  },
};
