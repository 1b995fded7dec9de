// Timing primitives for bench groups: warm-up, calibrated batches, rounds of subject and baseline
// interleaved so that noise on a shared machine lands on both, medians and spreads.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Does `n` units of work; may return a promise. */
export type Work = (n: number) => unknown;
/** Does one operation; its latency is what is measured. */
export type Op = () => unknown;

export interface Settings {
  readonly rounds: number;
  /** Target duration of one timed batch, per side. */
  readonly roundMs: number;
  readonly warmupMs: number;
}

export const FULL: Settings = { rounds: 9, roundMs: 120, warmupMs: 300 };
export const QUICK: Settings = { rounds: 3, roundMs: 25, warmupMs: 40 };

/**
 * A target on the figure itself (`value`), on its ratio to the baseline, or on what it adds to
 * the baseline (`added`: value - baseline value, e.g. latency a layer adds). At least one bound.
 */
export interface Target {
  readonly on: 'value' | 'ratio' | 'added';
  readonly min?: number;
  readonly max?: number;
  /** Shown beside the target, e.g. which reading of it this row is. */
  readonly note?: string;
}

/** One measured figure beside its baseline; the shape written by `--json`. */
export interface Row {
  group: string;
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  /** value / baseline; for timed rows, the median of the per-round paired ratios. */
  ratio: number;
  /** (max - min) / median over the rounds, subject and baseline; null when not timed. */
  spread: number | null;
  baselineSpread: number | null;
  target: Target | null;
  met: boolean | null;
}

export interface RateSpec {
  name: string;
  unit: string;
  subject: Work;
  baselineName: string;
  baseline: Work;
  /** Units counted per unit of `n` (e.g. chunks per stream). Default 1. */
  opsPer?: number;
  /** Smallest `n` tried while calibrating. Default 1. */
  minN?: number;
  /** Multiplies the round length, for work whose batches have a start-up cost. Default 1. */
  roundScale?: number;
  target?: Target;
}

export interface LatencySpec {
  /** Prefix of the row names; rows get " p50" and " p99" appended. */
  name: string;
  subject: Op;
  baselineName: string;
  baseline: Op;
}

// Collecting garbage before each timed batch keeps one side's garbage from being paid by the
// other. Exposing gc at run time spares users a node flag; without it timings are just noisier.
export const collect: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // fall through
  }
  return () => undefined;
})();

let sinkValue: unknown;
/** Keeps a computed value alive so the optimiser cannot drop the work that made it. */
export function sink(value: unknown): void {
  sinkValue = value;
}
export function sunk(): unknown {
  return sinkValue;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** (max - min) / median: how far apart the rounds landed. */
export function spreadOf(values: readonly number[]): number {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/** The p-th percentile of values sorted ascending (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

// CPU time against wall time over the timed rounds: on a shared machine, how much of a core
// this process actually got (work that waits on I/O also lowers it).
const usage = { cpuMs: 0, wallMs: 0 };

/** Counts CPU time used over wall time by rounds a group times itself (e.g. HTTP load). */
export function recordCpu(used: NodeJS.CpuUsage, wallMs: number): void {
  usage.cpuMs += (used.user + used.system) / 1000;
  usage.wallMs += wallMs;
}

/** The share of one core used during timed rounds since the last call; null if none ran. */
export function takeCpuShare(): number | null {
  const share = usage.wallMs > 0 ? usage.cpuMs / usage.wallMs : null;
  usage.cpuMs = 0;
  usage.wallMs = 0;
  return share;
}

async function timeOnce(work: Work, n: number, counted = false): Promise<number> {
  const cpu = counted ? process.cpuUsage() : undefined;
  const start = performance.now();
  const r = work(n);
  if (r instanceof Promise) await r;
  const ms = performance.now() - start;
  if (cpu !== undefined) {
    const used = process.cpuUsage(cpu);
    usage.cpuMs += (used.user + used.system) / 1000;
    usage.wallMs += ms;
  }
  return ms;
}

/** Finds an `n` whose batch takes about `ms`; running it also warms the code up. */
async function calibrate(work: Work, minN: number, ms: number): Promise<number> {
  let n = minN;
  for (;;) {
    const t = await timeOnce(work, n);
    if (t >= ms) return n;
    // Jump straight to the estimate once the timing is above timer noise.
    const next = t > 2 ? Math.ceil((n * ms * 1.1) / t) : n * 4;
    n = Math.max(n + 1, next);
  }
}

async function warm(work: Work, n: number, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await timeOnce(work, n);
}

export interface RateResult {
  value: number;
  baselineValue: number;
  ratio: number;
  spread: number;
  baselineSpread: number;
}

/** Measures ops/s of subject and baseline in alternating rounds (ABBA order). */
export async function compareRates(spec: RateSpec, s: Settings): Promise<RateResult> {
  const minN = spec.minN ?? 1;
  const opsPer = spec.opsPer ?? 1;
  const roundMs = s.roundMs * (spec.roundScale ?? 1);
  const nS = await calibrate(spec.subject, minN, roundMs);
  const nB = await calibrate(spec.baseline, minN, roundMs);
  await warm(spec.subject, nS, s.warmupMs / 2);
  await warm(spec.baseline, nB, s.warmupMs / 2);
  const subj: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < s.rounds; r++) {
    const rate = async (work: Work, n: number) => {
      collect();
      return (n * opsPer * 1000) / (await timeOnce(work, n, true));
    };
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = await rate(spec.subject, nS);
      b = await rate(spec.baseline, nB);
    } else {
      b = await rate(spec.baseline, nB);
      a = await rate(spec.subject, nS);
    }
    subj.push(a);
    base.push(b);
    ratios.push(a / b);
  }
  return {
    value: median(subj),
    baselineValue: median(base),
    ratio: median(ratios),
    spread: spreadOf(subj),
    baselineSpread: spreadOf(base),
  };
}

export interface LatencyResult {
  p50: number;
  p99: number;
  baselineP50: number;
  baselineP99: number;
}

/** Per-operation latency in microseconds, one operation at a time, sides interleaved by round. */
export async function compareLatency(spec: LatencySpec, s: Settings): Promise<LatencyResult> {
  const sample = async (op: Op, ms: number, into: number[] | undefined) => {
    const cpu = process.cpuUsage();
    const begin = performance.now();
    const until = begin + ms;
    for (;;) {
      const t0 = performance.now();
      const r = op();
      if (r instanceof Promise) await r;
      const t1 = performance.now();
      into?.push((t1 - t0) * 1000);
      if (t1 >= until) break;
    }
    if (into !== undefined) {
      const used = process.cpuUsage(cpu);
      usage.cpuMs += (used.user + used.system) / 1000;
      usage.wallMs += performance.now() - begin;
    }
  };
  await sample(spec.subject, s.warmupMs / 2, undefined);
  await sample(spec.baseline, s.warmupMs / 2, undefined);
  const subj: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < s.rounds; r++) {
    collect();
    if (r % 2 === 0) {
      await sample(spec.subject, s.roundMs, subj);
      await sample(spec.baseline, s.roundMs, base);
    } else {
      await sample(spec.baseline, s.roundMs, base);
      await sample(spec.subject, s.roundMs, subj);
    }
  }
  subj.sort((a, b) => a - b);
  base.sort((a, b) => a - b);
  return {
    p50: percentile(subj, 50),
    p99: percentile(subj, 99),
    baselineP50: percentile(base, 50),
    baselineP99: percentile(base, 99),
  };
}

/** The reading of a row its target applies to. */
export function targeted(row: Pick<Row, 'value' | 'baselineValue' | 'ratio'>, on: Target['on']) {
  if (on === 'value') return row.value;
  return on === 'ratio' ? row.ratio : row.value - row.baselineValue;
}

/** Whether a row meets its target; null when it has none. */
export function meets(
  row: Pick<Row, 'value' | 'baselineValue' | 'ratio' | 'target'>,
): boolean | null {
  if (row.target === null) return null;
  const x = targeted(row, row.target.on);
  if (!Number.isFinite(x)) return false;
  return (
    (row.target.min === undefined || x >= row.target.min) &&
    (row.target.max === undefined || x <= row.target.max)
  );
}

/** Runs `op` n times with at most `concurrency` in flight. */
export async function drive(n: number, concurrency: number, op: () => Promise<unknown>) {
  let issued = 0;
  const worker = async () => {
    while (issued < n) {
      issued++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}
