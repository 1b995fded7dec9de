// A Prometheus histogram for the token path: observing is an array increment on a series looked
// up once per request, with no allocation, where prom-client's Histogram hashes its labels and
// builds a closure per observation (about 0.5 µs, too much once per streamed token). It
// registers in a prom-client Registry like any metric and exposes the standard
// `_bucket`/`_sum`/`_count` series, so exposition stays prom-client's.
import type { Registry } from 'prom-client';

export interface HistogramSeries {
  /** Counts `value` once, or `times` times (observations that came together). */
  observe(value: number, times?: number): void;
}

interface Series extends HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** Cumulative bucket counts of one or more series added together, with their bounds. */
export interface BucketCounts {
  bounds: readonly number[];
  /** Non-cumulative counts per bucket, one more than `bounds` (+Inf). */
  counts: Float64Array;
  count: number;
  sum: number;
}

export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series for these label values (in `labelNames` order); keep it for repeated use. */
  labels(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ''));
      const bounds = this.bounds;
      const counts = new Float64Array(bounds.length + 1);
      const created: Series = {
        labels,
        counts,
        sum: 0,
        count: 0,
        observe(value: number, times = 1) {
          let i = 0;
          while (i < bounds.length && value > bounds[i]!) i++;
          counts[i]! += times;
          created.sum += value * times;
          created.count += times;
        },
      };
      s = created;
      this.series.set(key, s);
    }
    return s;
  }

  /** All series added together (for percentiles on the dashboard). */
  total(): BucketCounts {
    const counts = new Float64Array(this.bounds.length + 1);
    let count = 0;
    let sum = 0;
    for (const s of this.series.values()) {
      for (let i = 0; i < counts.length; i++) counts[i]! += s.counts[i]!;
      count += s.count;
      sum += s.sum;
    }
    return { bounds: this.bounds, counts, count, sum };
  }

  reset(): void {
    this.series.clear();
  }

  /** The metric in prom-client's shape, which its Registry formats. */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  } {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...s.labels, le },
          value: cumulative,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/**
 * The q-quantile (0..1) of the observations counted, interpolated linearly inside the bucket as
 * Prometheus's histogram_quantile does; undefined when nothing was counted.
 */
export function quantile(q: number, b: BucketCounts): number | undefined {
  const total = b.counts.reduce((n, c) => n + c, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < b.counts.length; i++) {
    const c = b.counts[i]!;
    if (seen + c >= rank && c > 0) {
      const lower = i === 0 ? 0 : b.bounds[i - 1]!;
      // Past the last bound there is no upper edge: report the last bound, as Prometheus does.
      if (i >= b.bounds.length) return lower;
      const upper = b.bounds[i]!;
      return lower + ((upper - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return b.bounds[b.bounds.length - 1];
}

/** Counts observed between two readings of the same histogram (`later` minus `earlier`). */
export function delta(later: BucketCounts, earlier: BucketCounts | undefined): BucketCounts {
  if (earlier === undefined) return later;
  const counts = new Float64Array(later.counts.length);
  for (let i = 0; i < counts.length; i++)
    counts[i] = Math.max(0, later.counts[i]! - (earlier.counts[i] ?? 0));
  return {
    bounds: later.bounds,
    counts,
    count: Math.max(0, later.count - earlier.count),
    sum: later.sum - earlier.sum,
  };
}
