// Renders BENCHMARKS.md from the results sidecar: machine facts, how to reproduce, a summary of
// targets and one table per group, each figure beside its same-run baseline.
import { targeted, type Row } from './harness.js';
import { formatBytes, formatRatio, formatSpread, formatTarget, formatValue } from './format.js';
import type { ChartRecord, GroupRecord, Machine, ResultsFile } from './results.js';

const HOW_TO_READ = `## How to read this

- **Ratios, not absolute numbers, are the claims.** Every figure stands beside a baseline
  measured in the same run, in alternating rounds (subject then baseline, then baseline then
  subject, ...), so whatever else the machine is doing hits both sides.
- **The machine is shared and noisy.** Absolute figures move by tens of percent from run to run
  and from machine to machine; compare ratios, and rerun before believing a small change. Each
  group records the 1-minute load average before and after it ran and the share of one core the
  process got during its timed rounds (CPU time / wall time): a share well below 100% on
  CPU-bound rows means other work took the CPU and absolute figures are depressed.
- **Value** is the median over the timed rounds (after warm-up and calibration). **Ratio** is
  the median of the per-round ratios subject / baseline, so it can differ slightly from value ÷
  baseline value. **Spread** is ± half the range (max − min) over the rounds, as a share of the
  median: a wide spread means a noisy measurement.
- Latency rows (µs) are percentiles over every operation of every round with one operation in
  flight; there a ratio above 1 means slower than the baseline. Size rows (bytes) are counted,
  not timed.
- The LLM groups (gateway, scale, routing) drive servers over HTTP from a load generator in a
  child process: their rounds are seconds of load, their latency rows are milliseconds per
  request taken by that client, and their core share is the server process's.
- A **target** applies to the ratio (e.g. "≥ 0.70x"), to the figure itself, or to what the
  figure adds to its baseline ("added ≤ 1.00 ms": value − baseline value). "**missed**" means
  the figure measured in that run is below its target. Nothing in this file is typed by hand
  except the section on missed targets, which comes from bench/missed.md.
- Each group says when and by which command it was last measured: \`--only\` reruns refresh only
  their own sections.`;

function machineLine(m: Machine, loadEnd: number): string {
  const busy =
    Math.max(m.load1, loadEnd) > m.cores ? ' (above the core count: a busy machine)' : '';
  return `${m.cpu}, ${m.cores} cores, Node ${m.node}; 1-min load ${m.load1} → ${loadEnd}${busy}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function result(row: Row): string {
  if (row.met === null) return '—';
  return row.met ? 'met' : '**missed**';
}

function table(rows: Row[]): string {
  const head =
    '| Figure | Value | Spread | Baseline | Baseline value | Spread | Ratio | Target | Result |\n' +
    '|---|--:|--:|---|--:|--:|--:|---|---|';
  const lines = rows.map((r) =>
    [
      '',
      cell(r.name),
      formatValue(r.value, r.unit),
      formatSpread(r.spread),
      cell(r.baseline),
      formatValue(r.baselineValue, r.unit),
      formatSpread(r.baselineSpread),
      formatRatio(r.ratio),
      cell(formatTarget(r.target, r.unit)),
      result(r),
      '',
    ]
      .join(' | ')
      .trim(),
  );
  return [head, ...lines].join('\n');
}

function chartSection(chart: ChartRecord): string {
  const head = `| ${chart.head.map(cell).join(' | ')} |`;
  const rule = `|${chart.head.map((_, i) => (i === 0 ? '---' : '--:')).join('|')}|`;
  const rows = chart.rows.map((r) => `| ${r.map(cell).join(' | ')} |`);
  return [
    `### ${chart.title}`,
    `![${chart.title}](${chart.file})`,
    chart.notes,
    [head, rule, ...rows].join('\n'),
  ].join('\n\n');
}

function section(name: string, rec: GroupRecord | undefined): string {
  if (rec === undefined)
    return `## ${name}\n\nNot measured yet: run \`npm run bench -- --only ${name}\`.`;
  const mode = rec.quick ? ' (**quick run**: fewer, shorter rounds; rerun without `--quick`)' : '';
  const parts = [
    `## ${name}`,
    `Measured ${rec.ranAt} by \`${rec.command}\`${mode}, on ${machineLine(rec.machine, rec.loadEnd ?? rec.machine.load1)}; ` +
      `${rec.settings.rounds} round${rec.settings.rounds === 1 ? '' : 's'} of at least ${rec.settings.roundMs} ms per side` +
      (typeof rec.cpuShare === 'number'
        ? `; the process got ${Math.round(rec.cpuShare * 100)}% of one core during timed rounds.`
        : '.'),
    rec.about,
  ];
  if (rec.skipped !== undefined) parts.push(`**Skipped:** ${rec.skipped}`);
  if (rec.failed !== undefined) parts.push(`**Failed:** ${rec.failed}`);
  if (rec.rows.length > 0) parts.push(table(rec.rows));
  for (const chart of rec.charts ?? []) parts.push(chartSection(chart));
  return parts.join('\n\n');
}

function summary(order: readonly string[], results: ResultsFile): string {
  const lines = ['| Group | Figure | Target | Measured | Result |', '|---|---|---|--:|---|'];
  let met = 0;
  let missed = 0;
  for (const name of order) {
    const rec = results.groups[name];
    if (rec === undefined || rec.skipped !== undefined || rec.failed !== undefined) {
      const why = rec?.skipped ?? rec?.failed ?? 'not measured yet';
      lines.push(`| ${name} | all | — | — | not run: ${cell(why)} |`);
      continue;
    }
    for (const r of rec.rows) {
      if (r.target === null) continue;
      if (r.met === true) met++;
      else missed++;
      const x = targeted(r, r.target.on);
      const measured =
        r.target.on === 'ratio'
          ? formatRatio(x)
          : `${r.target.on === 'added' ? 'added ' : ''}${formatValue(x, r.unit)}`;
      lines.push(
        `| ${name} | ${cell(r.name)} vs ${cell(r.baseline)} | ${cell(formatTarget(r.target, r.unit))} | ${measured} | ${result(r)} |`,
      );
    }
  }
  const verdict =
    missed === 0
      ? `All ${met} targets met.`
      : `${met} of ${met + missed} targets met; **${missed} missed**.`;
  return `## Targets\n\n${verdict}\n\n${lines.join('\n')}`;
}

/**
 * `order` is every group in report order; `namedOnly` those a plain `npm run bench` leaves out
 * (they run with `--only`).
 */
export function renderReport(
  order: readonly string[],
  results: ResultsFile,
  namedOnly: readonly string[] = [],
  missed?: string,
): string {
  const m = results.lastRun.machine;
  const machine = [
    '## Machine (last run)',
    '| | |\n|---|---|',
    `| CPU | ${cell(m.cpu)} |`,
    `| Cores | ${m.cores} |`,
    `| Memory | ${formatBytes(m.memoryBytes)} |`,
    `| Node | ${m.node} |`,
    `| OS | ${cell(m.os)} |`,
    `| Date | ${results.lastRun.ranAt} |`,
    `| Load (1 min) at start | ${m.load1} |`,
  ];
  const head = [
    '# Benchmarks',
    '_Generated by `npm run bench` (bench/main.ts) from bench/results.json; edits by hand are ' +
      'overwritten._',
    'Reproduce everything with `npm run bench` (builds first; about five minutes). One group: ' +
      '`npm run bench -- --only codec`; a smoke check: `npm run bench -- --quick`. ' +
      (namedOnly.length === 0
        ? ''
        : `${namedOnly.map((n) => `\`${n}\``).join(', ')} ${namedOnly.length === 1 ? 'is' : 'are'} ` +
          'left out of that full run because sweeping takes many minutes; run ' +
          `${namedOnly.map((n) => `\`npm run bench -- --only ${n}\``).join(', ')}. `) +
      `The last run was \`${results.lastRun.command}\`.`,
    HOW_TO_READ,
    `${machine.slice(0, 2).join('\n\n')}\n${machine.slice(2).join('\n')}`,
    summary(order, results),
    ...(missed === undefined ? [] : [missed.trim()]),
  ];
  const sections = order.map((name) => section(name, results.groups[name]));
  return `${[...head, ...sections].join('\n\n')}\n`;
}
