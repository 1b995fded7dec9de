// Label values from outside (model names, tenant names, worker ids) bounded in number and in
// length, so a client sending random model names cannot grow the metric series without end:
// past the limit, and for values that are too long or carry odd characters, the value becomes
// `other`.
export const OTHER_LABEL = 'other';
const SAFE_RE = /^[A-Za-z0-9._:/@+-]+$/;

export class LabelGuard {
  private readonly seen = new Set<string>();

  constructor(
    /** Distinct values kept; later new ones are `other`. */
    readonly maxValues: number,
    /** Longest value kept. */
    readonly maxLength = 64,
  ) {}

  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (v.length === 0 || v.length > this.maxLength || !SAFE_RE.test(v)) return OTHER_LABEL;
    if (this.seen.size >= this.maxValues) return OTHER_LABEL;
    this.seen.add(v);
    return v;
  }
}

/** Bounds of the latency histograms, in seconds, chosen for LLM serving. */
export const BUCKETS = {
  /** Time to first token: cache hits in milliseconds, long prompts and queues in seconds. */
  ttft: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  /** Between tokens: a fast GPU decodes in a few ms, a loaded CPU model in hundreds. */
  itl: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5],
  /** Whole requests: streams of thousands of tokens take minutes. */
  e2e: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
  /** Waiting for an admission slot. */
  wait: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
} as const;
