// Rounds of HTTP load on a subject and a baseline server (or on several endpoints), interleaved
// (ABBA) as the harness does for in-process work, and the rows made from them: rates as medians
// of per-round figures, and latency percentiles over every request of every round.
import { performance } from 'node:perf_hooks';
import type { GroupContext } from '../group.js';
import { median, percentile, recordCpu, spreadOf, type Row, type Target } from '../harness.js';
import type { LoadClient } from './client.js';
import type { LoadJob, LoadResult } from './job.js';

export interface Sides {
  subject: LoadResult[];
  baseline: LoadResult[];
}

function check(side: string, r: LoadResult): void {
  if (r.errors > 0) {
    throw new Error(`${side}: ${r.errors} of ${r.requests} requests failed (${r.firstError})`);
  }
}

/** Runs one job, counting this process's CPU over it as the group's (the servers live here). */
async function timed(client: LoadClient, job: LoadJob, side: string): Promise<LoadResult> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const r = await client.run(job);
  recordCpu(process.cpuUsage(cpu), performance.now() - start);
  check(side, r);
  return r;
}

/**
 * Warms both sides up with a run of `warmupMs` each, then runs `rounds` rounds, subject first
 * in even rounds and baseline first in odd ones. `afterWarmup` runs between the two phases
 * (e.g. to reset counters).
 */
export async function alternate(
  ctx: GroupContext,
  client: LoadClient,
  subject: LoadJob,
  baseline: LoadJob,
  afterWarmup?: () => void,
): Promise<Sides> {
  const [s, b] = await rotate(
    ctx,
    client,
    [
      { side: 'subject', job: subject },
      { side: 'baseline', job: baseline },
    ],
    afterWarmup,
  );
  return { subject: s!, baseline: b! };
}

/**
 * `alternate` for any number of jobs: warms each up, then runs `rounds` rounds in which every
 * job runs once, round r starting at job r mod n, so each job runs in each position about
 * equally often. Results come back per job, in the order given.
 */
export async function rotate(
  ctx: GroupContext,
  client: LoadClient,
  jobs: readonly { side: string; job: LoadJob }[],
  afterWarmup?: () => void,
): Promise<LoadResult[][]> {
  const { rounds, warmupMs } = ctx.settings;
  for (const { side, job } of jobs) {
    check(
      `${side} warm-up`,
      await client.run({ ...job, durationMs: warmupMs, requests: undefined }),
    );
  }
  afterWarmup?.();
  const results = jobs.map((): LoadResult[] => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < jobs.length; k++) {
      const i = (r + k) % jobs.length;
      const { side, job } = jobs[i]!;
      results[i]!.push(await timed(client, job, side));
    }
  }
  return results;
}

/** The load generator's CPU time over wall time: near 100% means it, not the server, set the pace. */
export function clientShare(results: readonly LoadResult[]): number {
  const cpu = results.reduce((n, r) => n + r.cpuMs, 0);
  const wall = results.reduce((n, r) => n + r.elapsedMs, 0);
  return wall > 0 ? cpu / wall : 0;
}

/** A throughput row: per-round rates of both sides, their medians and the median paired ratio. */
export function rateRow(
  ctx: GroupContext,
  spec: { name: string; unit: string; baseline: string; target?: Target },
  sides: Sides,
  rate: (r: LoadResult) => number,
): Row {
  const subj = sides.subject.map(rate);
  const base = sides.baseline.map(rate);
  const row = ctx.add({
    name: spec.name,
    value: median(subj),
    unit: spec.unit,
    baseline: spec.baseline,
    baselineValue: median(base),
    ratio: median(subj.map((s, i) => s / base[i]!)),
    spread: spreadOf(subj),
    baselineSpread: spreadOf(base),
    target: spec.target ?? null,
  });
  ctx.log(
    `  load generator CPU: ${Math.round(clientShare(sides.subject) * 100)}% of a core on the ` +
      `subject, ${Math.round(clientShare(sides.baseline) * 100)}% on the baseline`,
  );
  return row;
}

/** A latency row in ms at percentile `p` over every request of every round; spread over rounds. */
export function latencyRow(
  ctx: GroupContext,
  spec: { name: string; baseline: string; p: number; target?: Target },
  sides: Sides,
): Row {
  const pooled = (rs: LoadResult[]) =>
    percentile(
      rs.flatMap((r) => r.latencyMs).sort((a, b) => a - b),
      spec.p,
    );
  const perRound = (rs: LoadResult[]) =>
    rs.map((r) =>
      percentile(
        [...r.latencyMs].sort((a, b) => a - b),
        spec.p,
      ),
    );
  const value = pooled(sides.subject);
  const baselineValue = pooled(sides.baseline);
  return ctx.add({
    name: spec.name,
    value,
    unit: 'ms',
    baseline: spec.baseline,
    baselineValue,
    ratio: value / baselineValue,
    spread: spreadOf(perRound(sides.subject)),
    baselineSpread: spreadOf(perRound(sides.baseline)),
    target: spec.target ?? null,
  });
}

/**
 * Streamed tokens/s of the gateway at `on` against the one at `off` (base URLs): the same
 * chat-completion `body`, `concurrency` streams at once, rounds alternating. Adds the row.
 */
export async function streamedTokensRow(
  ctx: GroupContext,
  client: LoadClient,
  load: { on: string; off: string; path: string; body: string; concurrency: number },
  spec: { name: string; baseline: string; target?: Target },
): Promise<Row> {
  const job = {
    bodies: [load.body],
    concurrency: load.concurrency,
    durationMs: ctx.settings.roundMs,
    stream: true,
  };
  const sides = await alternate(
    ctx,
    client,
    { ...job, url: `${load.on}${load.path}` },
    { ...job, url: `${load.off}${load.path}` },
  );
  return rateRow(ctx, { ...spec, unit: 'tokens/s' }, sides, (r) => (r.tokens * 1000) / r.elapsedMs);
}
