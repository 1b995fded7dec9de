// Curve 2: resident memory of a real `llmwire up` process against the number of paced sim
// streams it holds open, and the memory each open stream costs (the slope).
import type { GroupContext } from '../group.js';
import { withSimUp, type UpProcess } from '../load/up-process.js';
import { fig, publish, slope } from './publish.js';

const LEVELS = [0, 100, 1000, 3000, 10_000];
const QUICK_LEVELS = [0, 100, 1000];
const WORKERS = 2;
const TTFT_MS = 20;
/** Slow tokens: the streams are held open, and their tokens should not load the CPU. */
const ITL_MS = 500;
const SAMPLE_MS = 100;
/** Target: what one more open stream may add to the process's RSS. */
const TARGET_KB = 50;
const MB = 1024 * 1024;

interface Point {
  streams: number;
  idle: number;
  peak: number;
  after: number;
  open: number;
  completed: number;
  errors: number;
  firstError?: string;
  ttftP99: number;
  cpuShare: number;
}

async function level(
  up: UpProcess,
  client: Parameters<Parameters<typeof withSimUp>[1]>[1],
  streams: number,
  holdMs: number,
): Promise<Point> {
  await new Promise((r) => setTimeout(r, 500));
  const idle = up.rss();
  if (streams === 0) {
    return {
      streams,
      idle,
      peak: idle,
      after: idle,
      open: 0,
      completed: 0,
      errors: 0,
      ttftP99: NaN,
      cpuShare: NaN,
    };
  }
  const body = JSON.stringify({
    model: 'sim',
    messages: [{ role: 'user', content: 'Tell me a long story about a message bus.' }],
    max_tokens: Math.round(holdMs / ITL_MS),
    stream: true,
  });
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, up.rss());
  }, SAMPLE_MS);
  const cpu = up.cpuMs();
  const t0 = Date.now();
  let r;
  try {
    r = await client.run({
      url: `${up.url}/v1/chat/completions`,
      bodies: [body],
      concurrency: streams,
      requests: streams,
      stream: true,
    });
  } finally {
    clearInterval(timer);
  }
  const ttft = [...r.latencyMs].sort((a, b) => a - b);
  return {
    streams,
    idle,
    peak,
    after: up.rss(),
    open: r.peakOpen,
    completed: r.completed,
    errors: r.errors,
    ...(r.firstError === undefined ? {} : { firstError: r.firstError }),
    ttftP99: ttft[Math.max(0, Math.ceil(ttft.length * 0.99) - 1)] ?? NaN,
    cpuShare: (up.cpuMs() - cpu) / (Date.now() - t0),
  };
}

export async function rssCurve(ctx: GroupContext): Promise<void> {
  const levels = ctx.quick ? QUICK_LEVELS : LEVELS;
  // Long enough for the load generator to open every stream before the first ones end.
  const holdFor = (streams: number) => (ctx.quick ? 4000 : Math.max(15_000, streams * 4));
  const points: Point[] = [];
  for (const streams of levels) {
    // A fresh process per level, so each level's growth is measured from its own idle start.
    const p = await withSimUp(
      {
        workers: WORKERS,
        concurrency: Math.max(streams, 1),
        ttftMs: TTFT_MS,
        itlMs: ITL_MS,
        // Room beyond the streams for the bench's own /readyz polls.
        maxConnections: streams + 1000,
      },
      (up, client) => level(up, client, streams, holdFor(streams)),
    );
    points.push(p);
    ctx.log(
      `${streams} streams: idle ${fig(p.idle / MB)} MB, peak ${fig(p.peak / MB)} MB, ` +
        `${p.open} open at once, ${p.completed} completed, ${p.errors} errors` +
        `${p.firstError === undefined ? '' : ` (${p.firstError})`}; ` +
        `core share ${Math.round(p.cpuShare * 100)}%`,
    );
  }
  // Against the streams open at once (as the client saw them), not those asked for.
  const growth = points.map((p) => [p.open, (p.peak - p.idle) / 1024] as const);
  const kbPerStream = slope(growth);
  const idle0 = points[0]!.idle;
  ctx.add({
    name: 'RSS added per open stream (least-squares slope of peak − idle over the sweep)',
    value: kbPerStream,
    unit: 'KB',
    baseline: `target ${TARGET_KB} KB per open stream`,
    baselineValue: TARGET_KB,
    ratio: kbPerStream / TARGET_KB,
    spread: null,
    baselineSpread: null,
    target: { on: 'value', max: TARGET_KB },
  });
  const per = points.filter((p) => p.open > 0).map((p) => (p.peak - p.idle) / 1024 / p.open);
  const top = points[points.length - 1]!;
  const notes = [
    `Least-squares slope of peak − idle RSS over the streams open at once: ` +
      `${fig(kbPerStream)} KB per open stream, against a target of ${TARGET_KB} KB ` +
      `(${kbPerStream <= TARGET_KB ? 'met' : '**missed**'}). Per level, (peak − idle) / open ` +
      `streams was ${per.map((v) => `${fig(v)} KB`).join(', ')}` +
      (per.length > 1 && per[0]! > 2 * kbPerStream
        ? `: the smallest level carries the fixed cost of the first requests (code compiled, ` +
          'buffers and pools grown once), and the slope is set by the large ones.'
        : '.'),
    `At ${top.streams.toLocaleString('en')} streams sent the process peaked at ` +
      `${fig(top.peak / MB)} MB (idle ${fig(top.idle / MB)} MB); ` +
      `${top.open.toLocaleString('en')} were open at once, ` +
      `${top.completed.toLocaleString('en')} ended with [DONE] and ${top.errors} failed` +
      (top.firstError === undefined ? '' : ` (first error: ${top.firstError})`) +
      `; the process used ${Math.round(top.cpuShare * 100)}% of a core over the level.`,
  ];
  publish(ctx, {
    name: 'rss-streams',
    chart: {
      title: 'RSS of llmwire up against open streams',
      xLabel: `streams open at once (log scale; 0 at the left), paced sim (itl ${ITL_MS} ms)`,
      yLabel: 'peak RSS, MB',
      series: [
        { name: 'llmwire up, peak RSS', points: points.map((p) => [p.open, p.peak / MB]) },
        {
          name: `target: idle + ${TARGET_KB} KB per open stream`,
          points: points.map((p) => [p.open, (idle0 + p.open * TARGET_KB * 1024) / MB]),
          baseline: true,
        },
      ],
    },
    notes: notes.join(' '),
    head: [
      'Streams sent',
      'Idle RSS (MB)',
      'Peak RSS (MB)',
      'Added per open stream (KB)',
      'Open at once',
      'Completed',
      'TTFT p99 (ms)',
      'Core share',
    ],
    rows: points.map((p) => [
      p.streams.toLocaleString('en'),
      fig(p.idle / MB),
      fig(p.peak / MB),
      p.open === 0 ? '—' : fig((p.peak - p.idle) / 1024 / p.open),
      p.open.toLocaleString('en'),
      p.completed.toLocaleString('en'),
      fig(p.ttftP99),
      Number.isFinite(p.cpuShare) ? `${Math.round(p.cpuShare * 100)}%` : '—',
    ]),
  });
}
