// Curve 3: durable queue msgs/s (enqueue + receive + ack) against the number of ready messages
// already in the queue, on SQLite and the three brokers, with the bench process's RSS.
import { randomBytes } from 'node:crypto';
import type { GroupContext } from '../group.js';
import { collect } from '../harness.js';
import {
  fill,
  steady,
  BODY_BYTES,
  FILL_IN_FLIGHT,
  PRODUCERS,
  RECEIVE_MAX,
  WINDOW,
} from './queue-fill.js';
import { QUEUE_SUBJECTS, type QueueSubject } from './queue-subjects.js';
import { fig, publish } from './publish.js';

const LEVELS = [0, 10_000, 100_000, 1_000_000, 10_000_000];
const QUICK_LEVELS = [0, 1_000, 10_000];
const MB = 1024 * 1024;

interface Point {
  depth: number;
  /** Messages enqueued, received and acked per second. */
  rate: number;
  /** How many the measurement moved. */
  n: number;
  rss: number;
  storeBytes?: number;
}

interface Sweep {
  subject: QueueSubject;
  points: Point[];
  /** Fill rates seen, msgs/s. */
  fillRates: number[];
  /** Why the sweep stopped short or did not run. */
  stopped?: string;
}

function budgetOf(ctx: GroupContext, s: QueueSubject): number {
  if (ctx.quick) return 30_000;
  return s.maxDepth >= 10_000_000 ? 540_000 : 360_000;
}

async function sweepOne(
  ctx: GroupContext,
  subject: QueueSubject,
  measureMs: number,
): Promise<Sweep> {
  const sweep: Sweep = { subject, points: [], fillRates: [] };
  const problem = await subject.problem();
  if (problem !== undefined) {
    ctx.log(`skipped ${subject.name}: ${problem}`);
    sweep.stopped = `skipped: ${problem}`;
    return sweep;
  }
  const levels = (ctx.quick ? QUICK_LEVELS : LEVELS).filter((d) => d <= subject.maxDepth);
  const open = await subject.open();
  const queue = open.transport.queue(`depth-${randomBytes(4).toString('hex')}`);
  const budgetEnd = Date.now() + budgetOf(ctx, subject);
  let depth = 0;
  let lastRate: number | undefined;
  try {
    for (const target of levels) {
      const need = target - depth;
      if (need > 0) {
        const rate = sweep.fillRates[sweep.fillRates.length - 1];
        const eta = rate === undefined ? 0 : (need / rate) * 1000;
        if (Date.now() + eta > budgetEnd) {
          sweep.stopped =
            `stopped before ${target.toLocaleString('en')}: adding ${need.toLocaleString('en')} ` +
            `at the last fill rate (${fig(rate)} msgs/s) would take about ${fig(eta / 1000)} s, ` +
            `past this run's fill budget of ${budgetOf(ctx, subject) / 1000} s for this queue`;
          ctx.log(`${subject.name}: ${sweep.stopped}`);
          break;
        }
        const filled = await fill(queue, need, budgetEnd);
        sweep.fillRates.push(filled.rate);
        depth += filled.added;
        if (filled.added < need) {
          sweep.stopped =
            `stopped filling at ${depth.toLocaleString('en')} of ${target.toLocaleString('en')}: ` +
            `the fill slowed to ${fig(filled.rate)} msgs/s and ran out of this run's fill budget ` +
            `of ${budgetOf(ctx, subject) / 1000} s for this queue`;
          ctx.log(`${subject.name}: ${sweep.stopped}`);
        }
      }
      // Sized from the last rate seen so each measurement lasts about measureMs.
      const n = Math.max(
        1000,
        Math.round(((lastRate ?? (await steady(queue, 1000))) * measureMs) / 1000),
      );
      const rate = await steady(queue, n);
      lastRate = rate;
      collect();
      const p: Point = {
        depth,
        rate,
        n,
        rss: process.memoryUsage().rss,
        ...(open.storeBytes === undefined ? {} : { storeBytes: open.storeBytes() }),
      };
      sweep.points.push(p);
      ctx.log(
        `${subject.name} at ${depth.toLocaleString('en')}: ${fig(rate)} msgs/s over ${n} ` +
          `messages, RSS ${fig(p.rss / MB)} MB` +
          (p.storeBytes === undefined ? '' : `, file ${fig(p.storeBytes / MB)} MB`) +
          (sweep.fillRates.length > 0
            ? `; filled at ${fig(sweep.fillRates[sweep.fillRates.length - 1])} msgs/s`
            : ''),
      );
      if (sweep.stopped !== undefined) break;
    }
  } catch (err) {
    sweep.stopped = `stopped: ${(err as Error).message}`;
    ctx.log(`${subject.name}: ${sweep.stopped}`);
  } finally {
    await open.transport.close().catch(() => undefined);
    await open.cleanup().catch((err: unknown) => ctx.log(`cleanup: ${(err as Error).message}`));
  }
  return sweep;
}

/** SQLite's page cache as the transport sets it (cache_size = -8000 in sqlite/schema.ts). */
const SQLITE_CACHE_MB = 8;

function describe(s: Sweep): string {
  if (s.points.length === 0) return `**${s.subject.name}**: ${s.stopped ?? 'no points'}.`;
  const first = s.points[0]!;
  const last = s.points[s.points.length - 1]!;
  const best = s.points.reduce((a, p) => (p.rate > a.rate ? p : a), first);
  const halved = s.points.find((p) => p.depth > best.depth && p.rate < best.rate / 2);
  const at = (p: Point) => p.depth.toLocaleString('en');
  const fills =
    s.fillRates.length > 0
      ? ` Filling ran at ${s.fillRates.map((r) => fig(r)).join(', ')} msgs/s per step.`
      : '';
  const file =
    last.storeBytes === undefined
      ? ''
      : ` The database file and WAL grew to ${fig(last.storeBytes / MB)} MB at ` +
        `${at(last)}, against the ${SQLITE_CACHE_MB} MB page cache the transport gives SQLite` +
        (halved === undefined
          ? '.'
          : ` (it was ${fig((halved.storeBytes ?? 0) / MB)} MB where the rate first fell below ` +
            'half); this run does not show which pages the slower operations read.');
  return (
    `**${s.subject.name}**: ${fig(first.rate)} msgs/s empty, highest at ${at(best)} ` +
    `(${fig(best.rate)}), ${fig(last.rate)} at ${at(last)} (${fig(last.rate / first.rate, 2)}x ` +
    'the empty figure)' +
    (halved === undefined
      ? '; it never fell below half its best.'
      : `; first below half its best at ${at(halved)} (${fig(halved.rate)}).`) +
    ` Bench process RSS ${fig(first.rss / MB)} → ${fig(last.rss / MB)} MB.` +
    file +
    fills +
    (s.stopped === undefined ? '' : ` Sweep ${s.stopped}.`)
  );
}

export async function queueDepthCurve(ctx: GroupContext): Promise<void> {
  const measureMs = ctx.quick ? 600 : 3000;
  const sweeps: Sweep[] = [];
  for (const subject of QUEUE_SUBJECTS) sweeps.push(await sweepOne(ctx, subject, measureMs));
  const drawn = sweeps.filter((s) => s.points.length > 0);
  if (drawn.length === 0) throw new Error('no queue could be measured');
  const xLabel = `ready messages in the queue (log scale; 0 at the left), ${BODY_BYTES}-byte bodies`;
  const rows = drawn.flatMap((s) =>
    s.points.map((p) => [
      s.subject.name,
      p.depth.toLocaleString('en'),
      fig(p.rate),
      p.n.toLocaleString('en'),
      fig(p.rss / MB),
      p.storeBytes === undefined ? '—' : fig(p.storeBytes / MB),
    ]),
  );
  const notes =
    drawn.map(describe).join(' ') +
    ' ' +
    sweeps
      .filter((s) => s.points.length === 0)
      .map(describe)
      .join(' ');
  publish(ctx, {
    name: 'queue-depth',
    chart: {
      title: 'Durable queue enqueue+receive+ack rate against queue depth',
      xLabel,
      yLabel: 'msgs/s (each enqueued, received and acked)',
      series: drawn.map((s) => ({
        name: s.subject.name,
        points: s.points.map((p) => [p.depth, p.rate] as const),
      })),
    },
    notes: notes.trim(),
    head: [
      'Queue',
      'Ready messages',
      'Acked msgs/s',
      'Enqueued msgs/s',
      'Bench RSS (MB)',
      'SQLite file + WAL (MB)',
    ],
    rows,
  });
  publish(ctx, {
    name: 'queue-depth-rss',
    chart: {
      title: 'Bench process RSS against queue depth',
      xLabel,
      yLabel: 'RSS of the bench process, MB',
      series: drawn.map((s) => ({
        name: s.subject.name,
        points: s.points.map((p) => [p.depth, p.rss / MB] as const),
      })),
    },
    notes:
      'The same runs as the chart above, read after each level, after a full garbage ' +
      'collection. SQLite runs in the bench process; the brokers run in ' +
      'their own, so for them this is only the client side. This sweep runs last in the ' +
      'group, so the first reading includes what the earlier sweeps left in the process: ' +
      'read the change along a line, not its level.',
    head: ['Queue', 'Ready messages', 'Bench RSS (MB)'],
    rows: drawn.flatMap((s) =>
      s.points.map((p) => [s.subject.name, p.depth.toLocaleString('en'), fig(p.rss / MB)]),
    ),
  });
}

export const QUEUE_ABOUT =
  `Each queue is filled through its llmwire \`transport.queue(...)\` with ${FILL_IN_FLIGHT} ` +
  `enqueues in flight; then, at each depth, ${PRODUCERS} producers (${WINDOW} enqueues in ` +
  `flight each) enqueue n new messages while one consumer receives (up to ${RECEIVE_MAX} a ` +
  'call) and acks n, n sized from the previous rate to last about three seconds; the figure ' +
  'is n over that time, as the sqlite-queue group counts it. The consumer takes the oldest ' +
  'messages, so the depth holds. No raw baseline is drawn here: filling each side twice would ' +
  'double a sweep that already takes minutes; the sqlite-queue and brokers-queue groups give ' +
  'each queue against its raw client on an empty queue.';
