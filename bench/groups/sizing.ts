// The sizing group: what each component of a NATS deployment costs per request and per streamed
// token, measured on real processes (`llmwire gateway`, `llmwire worker`, nats-server) from their
// CPU time in /proc. bench/sizing/plan.ts turns these figures into a deployment plan.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATS_URL } from '../../test/helpers/broker-urls.js';
import type { BenchGroup, GroupContext } from '../group.js';
import { APIS } from '../load/apis.js';
import { natsProblem } from '../load/brokers.js';
import { startCli, type CliProcess } from '../load/cli-process.js';
import { LoadClient } from '../load/client.js';
import type { LoadResult } from '../load/job.js';
import { cpuMsOf, untilWorkers } from '../load/up-process.js';
import { PROMPT } from './gateway.js';

const WORKERS = 2;
const ITL_MS = 20;
/** Long streams: the per-token cost dominates. */
const LONG = { streams: 512, tokens: 64 };
/** Short streams: the per-request cost dominates. */
const SHORT = { streams: 64, tokens: 2 };
const GATEWAY_LINE = /gateway\s+(http:\/\/\S+)\/v1/;

/** The nats-server serving NATS_URL's port on this machine, if it runs here. */
function natsServerPid(): number | undefined {
  const port = new URL(NATS_URL).port || '4222';
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv[0]!.endsWith('nats-server')) continue;
      const p = argv.indexOf('-p');
      const given = p >= 0 ? argv[p + 1] : argv.find((a) => a.startsWith('--port='))?.slice(7);
      if ((given ?? '4222') === port) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

async function reachable(): Promise<string | undefined> {
  const problem = await natsProblem();
  if (problem !== undefined) return problem;
  if (natsServerPid() === undefined) return `the nats-server of ${NATS_URL} is not on this machine`;
  return undefined;
}

interface Stack {
  url: string;
  gateway: CliProcess;
  workers: CliProcess[];
  nats: number;
  close(): Promise<void>;
}

async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-sizing-'));
  const namespace = `sizing${process.pid}`;
  const common = ['--namespace', namespace, '--log-level', 'warn'];
  const started: CliProcess[] = [];
  try {
    const gw = await startCli(
      ['gateway', '--port', '0', '--transport', NATS_URL, '--data-dir', dir, ...common],
      GATEWAY_LINE,
    );
    started.push(gw.proc);
    for (let i = 0; i < WORKERS; i++) {
      const w = await startCli(
        [
          'worker',
          '--connect',
          NATS_URL,
          '--concurrency',
          String(LONG.streams / WORKERS),
          '--sim-ttft-ms',
          '0',
          '--sim-itl-ms',
          String(ITL_MS),
          ...common,
        ],
        /serving sim/,
      );
      started.push(w.proc);
    }
    const url = gw.match[1]!;
    await untilWorkers(url, WORKERS, 15_000);
    return {
      url,
      gateway: gw.proc,
      workers: started.slice(1),
      nats: natsServerPid()!,
      async close() {
        await Promise.all(started.map((p) => p.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** CPU ms each component used while `job` ran, and what the load generator saw. */
interface Sample {
  result: LoadResult;
  gateway: number;
  workers: number;
  nats: number;
}

async function sample(
  stack: Stack,
  client: LoadClient,
  shape: { streams: number; tokens: number },
  durationMs: number,
): Promise<Sample> {
  const cpu = () => ({
    gateway: stack.gateway.cpuMs(),
    workers: stack.workers.reduce((sum, w) => sum + w.cpuMs(), 0),
    nats: cpuMsOf(stack.nats),
  });
  const before = cpu();
  const result = await client.run({
    url: `${stack.url}${APIS.chat.path}`,
    bodies: [APIS.chat.body({ prompt: PROMPT, maxTokens: shape.tokens, stream: true })],
    concurrency: shape.streams,
    durationMs,
    stream: true,
  });
  const after = cpu();
  if (result.errors > 0)
    throw new Error(`sizing load: ${result.errors} errors (${result.firstError})`);
  return {
    result,
    gateway: after.gateway - before.gateway,
    workers: after.workers - before.workers,
    nats: after.nats - before.nats,
  };
}

/**
 * Splits CPU time into a cost per request and a cost per token from two runs of different
 * stream lengths: cpu = perRequest × requests + perToken × tokens, solved exactly.
 */
function split(long: Sample, short: Sample, pick: (s: Sample) => number) {
  const [r1, t1, c1] = [long.result.completed, long.result.tokens, pick(long)];
  const [r2, t2, c2] = [short.result.completed, short.result.tokens, pick(short)];
  const det = r1 * t2 - r2 * t1;
  const perRequest = (c1 * t2 - c2 * t1) / det;
  const perToken = (r1 * c2 - r2 * c1) / det;
  // µs
  return { perRequest: perRequest * 1000, perToken: perToken * 1000 };
}

function rows(ctx: GroupContext, long: Sample, short: Sample): void {
  const client = split(long, short, (s) => s.result.cpuMs);
  const baseline = 'the load generator reading the same streams';
  const parts: [string, (s: Sample) => number][] = [
    ['llmwire gateway', (s) => s.gateway],
    [`llmwire worker ×${WORKERS} (sim model included)`, (s) => s.workers],
    ['nats-server', (s) => s.nats],
  ];
  for (const [who, pick] of parts) {
    const cost = split(long, short, pick);
    ctx.add({
      name: `${who}: CPU per streamed token`,
      value: cost.perToken,
      unit: 'µs',
      baseline,
      baselineValue: client.perToken,
      ratio: cost.perToken / client.perToken,
      spread: null,
      baselineSpread: null,
      target: null,
    });
    ctx.add({
      name: `${who}: CPU per request`,
      value: cost.perRequest,
      unit: 'µs',
      baseline,
      baselineValue: client.perRequest,
      ratio: cost.perRequest / client.perRequest,
      spread: null,
      baselineSpread: null,
      target: null,
    });
  }
  const wall = long.result.elapsedMs;
  ctx.log(
    `long streams: ${long.result.completed} requests, ${long.result.tokens} tokens in ` +
      `${(wall / 1000).toFixed(1)} s, ${long.result.peakOpen} open at most; gateway ${((100 * long.gateway) / wall).toFixed(0)}% of a ` +
      `core, workers ${((100 * long.workers) / wall).toFixed(0)}%, nats-server ` +
      `${((100 * long.nats) / wall).toFixed(0)}%`,
  );
}

export const sizingGroup: BenchGroup = {
  name: 'sizing',
  about:
    'What each process of a NATS deployment costs, for the sizing plan in docs/deploy.md ' +
    '(`node dist/bench/sizing/plan.js` reads these rows). Real processes on the NATS at ' +
    `${NATS_URL}: one \`llmwire gateway\`, ${WORKERS} \`llmwire worker --backend sim\` ` +
    `(itl ${ITL_MS} ms, no coalescing) and the nats-server; load from a child process. Two ` +
    `runs: ${LONG.streams} concurrent streams of ${LONG.tokens} tokens and ${SHORT.streams} of ` +
    `${SHORT.tokens} tokens. Each process's CPU time (/proc/PID/stat) over a run is split into a ` +
    'cost per request and a cost per token by solving the two runs as two linear equations ' +
    '(cpu = a × requests + b × tokens). The baseline is the same split of the load ' +
    'generator, which parses every SSE event it reads. CPU times come in 10 ms ticks over ' +
    'runs of several seconds; heartbeats and idle work are counted in with the load.',
  settings: {
    full: { rounds: 1, roundMs: 6000, warmupMs: 1000 },
    quick: { rounds: 1, roundMs: 1500, warmupMs: 300 },
  },
  async run(ctx) {
    const problem = await reachable();
    if (problem !== undefined) {
      ctx.log(`skipped: ${problem}`);
      return { skipped: problem };
    }
    const stack = await startStack();
    const client = await LoadClient.start();
    try {
      await sample(stack, client, LONG, ctx.settings.warmupMs);
      const long = await sample(stack, client, LONG, ctx.settings.roundMs);
      const short = await sample(stack, client, SHORT, ctx.settings.roundMs);
      rows(ctx, long, short);
    } finally {
      await client.close();
      await stack.close();
    }
    return { rows: ctx.rows };
  },
};
