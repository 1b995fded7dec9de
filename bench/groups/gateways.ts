// The gateways group: two `llmwire gateway` processes on one NATS server against one, at the
// same offered load, with the tenant's rate limits shared on the broker (every request takes
// from and settles with the limit store's KV bucket). Report only.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import type { BenchGroup, GroupContext } from '../group.js';
import { median, percentile, spreadOf } from '../harness.js';
import { APIS } from '../load/apis.js';
import { LoadClient } from '../load/client.js';
import type { LoadResult } from '../load/job.js';
import { NATS_URL, REDIS_URL } from '../../test/helpers/broker-urls.js';
import { deleteStreams } from '../../test/transport/fixtures/nats-server.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STREAMS = 128;
const TOKENS = 32;
const ITL_MS = 10;
const KEY = 'sk-bench-gateways';
/** A tenant without limits: its admissions never reach the limit store. */
const FREE_KEY = 'sk-bench-gateways-free';
const BASELINE = 'one gateway process, same offered load';

interface Child {
  proc: ChildProcess;
  output: () => string;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
  return { proc, output: () => text };
}

async function waitFor(child: Child, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  const until = Date.now() + 20_000;
  for (;;) {
    const m = pattern.exec(child.output());
    if (m !== null) return m;
    if (Date.now() > until || child.proc.exitCode !== null) {
      throw new Error(`${what} did not start:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Both halves of the load at once, one load generator each, merged as one round. */
async function round(
  clients: LoadClient[],
  urls: string[],
  ms: number,
  apiKey = KEY,
): Promise<LoadResult> {
  const body = APIS.chat.body({
    prompt: 'Tell me about message buses.',
    maxTokens: TOKENS,
    stream: true,
  });
  const results = await Promise.all(
    clients.map((c, i) =>
      c.run({
        url: `${urls[i]!}${APIS.chat.path}`,
        bodies: [body],
        concurrency: STREAMS / clients.length,
        durationMs: ms,
        stream: true,
        apiKey,
      }),
    ),
  );
  return {
    requests: results.reduce((n, r) => n + r.requests, 0),
    completed: results.reduce((n, r) => n + r.completed, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    ...(results.find((r) => r.firstError !== undefined)?.firstError === undefined
      ? {}
      : { firstError: results.find((r) => r.firstError !== undefined)!.firstError! }),
    tokens: results.reduce((n, r) => n + r.tokens, 0),
    latencyMs: results.flatMap((r) => r.latencyMs),
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    peakOpen: results.reduce((n, r) => n + r.peakOpen, 0),
    cpuMs: results.reduce((n, r) => n + r.cpuMs, 0),
  };
}

async function measure(ctx: GroupContext, broker: 'nats' | 'redis'): Promise<void> {
  const namespace = `b${randomBytes(4).toString('hex')}`;
  const prefix = `G${randomBytes(4).toString('hex')}`;
  const transport = broker === 'nats' ? `${NATS_URL}?prefix=${prefix}` : REDIS_URL;
  const on = broker === 'nats' ? 'NATS' : 'Redis';
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-gateways-'));
  const config = join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({
      gateway: {
        apiKeys: {
          [KEY]: { name: 'bench', requestsPerMinute: 1e9, tokensPerMinute: 1e12 },
          [FREE_KEY]: { name: 'free' },
        },
      },
    }),
  );
  const children: Child[] = [];
  const clients: LoadClient[] = [];
  try {
    const gateways = [0, 1].map((i) =>
      start([
        'gateway',
        '--transport',
        transport,
        '--namespace',
        namespace,
        '--port',
        '0',
        '--data-dir',
        mkdtempSync(join(dir, `g${i}-`)),
        '--config',
        config,
        '--log-level',
        'warn',
      ]),
    );
    children.push(...gateways);
    const urls: string[] = [];
    for (const g of gateways) {
      urls.push((await waitFor(g, /gateway +(http:\/\/[^/\s]+)\/v1/, 'gateway'))[1]!);
    }
    const worker = start([
      'worker',
      '--connect',
      transport,
      '--namespace',
      namespace,
      '--id',
      'w1',
      '--concurrency',
      String(STREAMS * 2),
      '--sim-ttft-ms',
      '0',
      '--sim-itl-ms',
      String(ITL_MS),
      '--log-level',
      'warn',
    ]);
    children.push(worker);
    await waitFor(worker, /^llmwire worker /m, 'worker');
    for (const url of urls) {
      const until = Date.now() + 20_000;
      while ((await fetch(`${url}/readyz`)).status !== 200) {
        if (Date.now() > until) throw new Error('the worker did not join both gateways');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    clients.push(await LoadClient.start(), await LoadClient.start());
    const { rounds, roundMs, warmupMs } = ctx.settings;
    const one = [urls[0]!, urls[0]!];
    const two = [urls[0]!, urls[1]!];
    await round(clients, one, warmupMs);
    await round(clients, two, warmupMs);
    const subject: LoadResult[] = [];
    const baseline: LoadResult[] = [];
    const limited: LoadResult[] = [];
    const free: LoadResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const jobs = [
        async () => subject.push(await round(clients, two, roundMs)),
        async () => baseline.push(await round(clients, one, roundMs)),
        async () => limited.push(await round(clients, one, roundMs)),
        async () => free.push(await round(clients, one, roundMs, FREE_KEY)),
      ];
      for (let j = 0; j < jobs.length; j++) await jobs[(j + r) % jobs.length]!();
    }
    const all = [...subject, ...baseline, ...limited, ...free];
    const errors = all.reduce((n, r) => n + r.errors, 0);
    if (errors > 0) {
      const first = all.find((r) => r.firstError !== undefined)?.firstError;
      throw new Error(`${errors} requests failed: ${first ?? ''}`);
    }
    const rate = (r: LoadResult) => (r.tokens * 1000) / r.elapsedMs;
    const subj = subject.map(rate);
    const base = baseline.map(rate);
    ctx.add({
      name: `${on}: streamed tokens/s, 2 gateways vs 1, ${STREAMS} streams split over two load generators, paced (itl ${ITL_MS} ms), shared tenant limits`,
      value: median(subj),
      unit: 'tokens/s',
      baseline: BASELINE,
      baselineValue: median(base),
      ratio: median(subj.map((s, i) => s / base[i]!)),
      spread: spreadOf(subj),
      baselineSpread: spreadOf(base),
      target: null,
    });
    const p50 = (rs: LoadResult[]) =>
      percentile(
        rs.flatMap((r) => r.latencyMs).sort((a, b) => a - b),
        50,
      );
    const perRound = (rs: LoadResult[]) =>
      rs.map((r) =>
        percentile(
          [...r.latencyMs].sort((a, b) => a - b),
          50,
        ),
      );
    ctx.add({
      name: `${on}: time to first token p50, 2 gateways vs 1, same load`,
      value: p50(subject),
      unit: 'ms',
      baseline: BASELINE,
      baselineValue: p50(baseline),
      ratio: p50(subject) / p50(baseline),
      spread: spreadOf(perRound(subject)),
      baselineSpread: spreadOf(perRound(baseline)),
      target: null,
    });
    const lim = limited.map(rate);
    const unl = free.map(rate);
    ctx.add({
      name: `${on}: streamed tokens/s, one gateway, a tenant with shared limits vs one without limits`,
      value: median(lim),
      unit: 'tokens/s',
      baseline: 'same gateway and load, a tenant without limits (no limit store calls)',
      baselineValue: median(unl),
      ratio: median(lim.map((s, i) => s / unl[i]!)),
      spread: spreadOf(lim),
      baselineSpread: spreadOf(unl),
      target: null,
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const c of children) c.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    if (broker === 'nats') await deleteStreams(NATS_URL, prefix).catch(() => undefined);
  }
}

async function reachable(): Promise<string | undefined> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 2000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return `no NATS server at ${NATS_URL} (${String(err)})`;
  }
}

async function redisReachable(): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `no Redis at ${REDIS_URL} (${String(err)})`;
  } finally {
    client.disconnect();
  }
}

export const gatewaysGroup: BenchGroup = {
  name: 'gateways',
  about:
    'Two `llmwire gateway` processes on one NATS server, then on one Redis (one namespace, one `llmwire worker` ' +
    `process with the sim backend, ttft 0, itl ${ITL_MS} ms, ${TOKENS} tokens a stream) against ` +
    `one of them alone, at the same offered load: ${STREAMS} concurrent streams from two load ` +
    'generator processes (closed loop), each sending to its own gateway in the subject rounds ' +
    'and both to the first gateway in the baseline rounds; rounds alternate. Every request is ' +
    "of one tenant with rate limits far above the load, so each admission takes from the tenant's " +
    'buckets in the shared limit store (on NATS a JetStream KV entry read and written back by ' +
    'compare-and-set, on Redis one Lua script call) and ' +
    'settles with the real usage at the end; a last row sets that against a tenant without ' +
    'limits on the same single gateway. Report only: on this two-core machine the gateways, ' +
    'the worker, the load generators and nats-server share the cores.',
  settings: {
    full: { rounds: 4, roundMs: 1500, warmupMs: 500 },
    quick: { rounds: 2, roundMs: 500, warmupMs: 200 },
  },
  async run(ctx) {
    const problem = await reachable();
    if (problem !== undefined) {
      ctx.log(`skipped: ${problem}`);
      return { skipped: problem };
    }
    await measure(ctx, 'nats');
    const redis = await redisReachable();
    if (redis === undefined) await measure(ctx, 'redis');
    else ctx.log(`Redis rows skipped: ${redis}`);
    return { rows: ctx.rows };
  },
};
