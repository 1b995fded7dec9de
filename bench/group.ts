// What a bench group is, and the context it measures through: each measurement becomes a Row
// (figure beside its same-run baseline) and is printed as soon as it is known.
import {
  compareLatency,
  compareRates,
  meets,
  type LatencySpec,
  type RateSpec,
  type Row,
  type Settings,
  type Target,
} from './harness.js';
import { formatRatio, formatValue } from './format.js';
import type { ChartRecord } from './results.js';

export type GroupOutcome = { rows: Row[] } | { skipped: string };

export interface BenchGroup {
  /** Name used by `--only` and as the section heading. */
  readonly name: string;
  /** One paragraph: what is measured against what, shown above the group's table. */
  readonly about: string;
  /** Round counts and lengths, when the group's work does not fit the shared FULL/QUICK ones. */
  readonly settings?: { readonly full: Settings; readonly quick: Settings };
  /** Left out of a run without `--only` (a group that takes many minutes). */
  readonly onlyWhenNamed?: boolean;
  run(ctx: GroupContext): Promise<GroupOutcome>;
}

export class GroupContext {
  readonly rows: Row[] = [];
  readonly charts: ChartRecord[] = [];

  constructor(
    readonly group: string,
    readonly settings: Settings,
    readonly quick: boolean,
    private readonly print: (line: string) => void = console.log,
  ) {}

  log(line: string): void {
    this.print(`  ${line}`);
  }

  /** Adds a row the group measured its own way (e.g. rounds of HTTP load), and prints it. */
  add(row: Omit<Row, 'group' | 'met'>): Row {
    const full: Row = { group: this.group, ...row, met: null };
    full.met = meets(full);
    this.rows.push(full);
    const verdict = full.met === null ? '' : full.met ? '  [target met]' : '  [target MISSED]';
    this.log(
      `${full.name}: ${formatValue(full.value, full.unit)} vs ${formatValue(full.baselineValue, full.unit)} ` +
        `(${full.baseline}) = ${formatRatio(full.ratio)}${verdict}`,
    );
    return full;
  }

  /** Throughput of subject vs baseline, interleaved rounds. */
  async rate(spec: RateSpec): Promise<Row> {
    const r = await compareRates(spec, this.settings);
    return this.add({
      name: spec.name,
      value: r.value,
      unit: spec.unit,
      baseline: spec.baselineName,
      baselineValue: r.baselineValue,
      ratio: r.ratio,
      spread: r.spread,
      baselineSpread: r.baselineSpread,
      target: spec.target ?? null,
    });
  }

  /** p50 and p99 latency (µs) of subject vs baseline; informational rows. */
  async latency(spec: LatencySpec): Promise<Row[]> {
    const r = await compareLatency(spec, this.settings);
    const row = (p: string, value: number, baselineValue: number) =>
      this.add({
        name: `${spec.name} ${p}`,
        value,
        unit: 'µs',
        baseline: spec.baselineName,
        baselineValue,
        ratio: value / baselineValue,
        spread: null,
        baselineSpread: null,
        target: null,
      });
    return [row('p50', r.p50, r.baselineP50), row('p99', r.p99, r.baselineP99)];
  }

  /** A figure that is counted rather than timed (e.g. bytes), beside its baseline. */
  fixed(
    name: string,
    value: number,
    unit: string,
    baselineName: string,
    baselineValue: number,
    target?: Target,
  ): Row {
    return this.add({
      name,
      value,
      unit,
      baseline: baselineName,
      baselineValue,
      ratio: value / baselineValue,
      spread: null,
      baselineSpread: null,
      target: target ?? null,
    });
  }
}
