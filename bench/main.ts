// The benchmark command (`npm run bench`): runs the chosen groups, then rewrites BENCHMARKS.md
// and bench/results.json, and optionally writes this run's figures as JSON.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GroupContext, type BenchGroup } from './group.js';
import { GROUPS } from './groups/index.js';
import { FULL, QUICK, takeCpuShare, type Row, type Settings } from './harness.js';
import { renderReport } from './report.js';
import {
  currentLoad,
  loadResults,
  machineFacts,
  saveResults,
  type GroupRecord,
  type ResultsFile,
} from './results.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REPORT_PATH = `${ROOT}BENCHMARKS.md`;
const RESULTS_PATH = `${ROOT}bench/results.json`;
/** Written by hand: why each missed target is missed, from profiles and floors. */
const MISSED_PATH = `${ROOT}bench/missed.md`;

const USAGE = `usage: npm run bench -- [options]
       node dist/bench/main.js [options]

Runs the benchmark groups, prints each figure beside its same-run baseline, and rewrites
BENCHMARKS.md (sections of groups not run are kept from bench/results.json).

options:
  --only NAME   run only this group; repeat it or separate names with commas
                (groups: ${GROUPS.map((g) => g.name).join(', ')});
                without it every group runs except ${GROUPS.filter((g) => g.onlyWhenNamed)
                  .map((g) => g.name)
                  .join(', ')}, which takes many minutes
  --json FILE   also write this run's figures to FILE as a JSON array
  --quick       fewer, shorter rounds: a smoke check, not a measurement
  --report      run nothing: rewrite BENCHMARKS.md from bench/results.json and bench/missed.md
  --help        print this and exit`;

class UsageError extends Error {
  override name = 'UsageError';
}

interface Options {
  groups: readonly BenchGroup[];
  json: string | undefined;
  quick: boolean;
  help: boolean;
  report: boolean;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        only: { type: 'string', multiple: true },
        json: { type: 'string' },
        quick: { type: 'boolean', default: false },
        report: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let groups: readonly BenchGroup[] = GROUPS.filter((g) => g.onlyWhenNamed !== true);
  if (values.only !== undefined) {
    const names = values.only.flatMap((v) => v.split(',')).map((v) => v.trim());
    const unknown = names.filter((n) => !GROUPS.some((g) => g.name === n));
    if (names.some((n) => n.length === 0)) throw new UsageError('--only needs a group name');
    if (unknown.length > 0) {
      throw new UsageError(
        `unknown group ${unknown.map((n) => `'${n}'`).join(', ')}; groups are: ${GROUPS.map((g) => g.name).join(', ')}`,
      );
    }
    groups = GROUPS.filter((g) => names.includes(g.name));
  }
  if (values.json !== undefined && values.json.trim().length === 0) {
    throw new UsageError('--json needs a file name');
  }
  if (values.report && (values.only !== undefined || values.quick || values.json !== undefined)) {
    throw new UsageError('--report runs nothing: it takes no --only, --quick or --json');
  }
  return {
    groups,
    json: values.json,
    quick: values.quick,
    help: values.help,
    report: values.report,
  };
}

function commandLine(argv: string[]): string {
  const quote = (a: string) => (/^[\w./,=:@-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['node dist/bench/main.js', ...argv.map(quote)].join(' ');
}

async function runGroup(
  group: BenchGroup,
  options: Options,
  base: Omit<GroupRecord, 'about' | 'rows' | 'loadEnd' | 'cpuShare'>,
) {
  const ctx = new GroupContext(group.name, settingsOf(group, options.quick), options.quick);
  takeCpuShare();
  const record: GroupRecord = {
    ...base,
    about: group.about,
    rows: [],
    loadEnd: 0,
    cpuShare: null,
  };
  try {
    const outcome = await group.run(ctx);
    if ('skipped' in outcome) record.skipped = outcome.skipped;
    else record.rows = outcome.rows;
    if (ctx.charts.length > 0) record.charts = ctx.charts;
  } catch (err) {
    // Keep what was measured before the failure, and say plainly that the group failed.
    console.error(err);
    record.rows = ctx.rows;
    if (ctx.charts.length > 0) record.charts = ctx.charts;
    record.failed = (err as Error).message ?? String(err);
  }
  record.loadEnd = currentLoad();
  record.cpuShare = takeCpuShare();
  return record;
}

function settingsOf(group: BenchGroup, quick: boolean): Settings {
  if (group.settings !== undefined) return quick ? group.settings.quick : group.settings.full;
  return quick ? QUICK : FULL;
}

function write(results: ResultsFile): void {
  const known = Object.fromEntries(
    GROUPS.flatMap((g) => (results.groups[g.name] ? [[g.name, results.groups[g.name]!]] : [])),
  );
  const kept: ResultsFile = { ...results, groups: known };
  saveResults(RESULTS_PATH, kept);
  writeFileSync(
    REPORT_PATH,
    renderReport(
      GROUPS.map((g) => g.name),
      kept,
      GROUPS.filter((g) => g.onlyWhenNamed === true).map((g) => g.name),
      existsSync(MISSED_PATH) ? readFileSync(MISSED_PATH, 'utf8') : undefined,
    ),
  );
}

async function main(argv: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.report) {
    const saved = loadResults(RESULTS_PATH);
    if (saved === undefined) {
      console.error(`bench: no ${RESULTS_PATH} to report from; run npm run bench first`);
      return 2;
    }
    write(saved);
    console.log(`wrote ${REPORT_PATH}`);
    return 0;
  }
  const machine = machineFacts();
  const ranAt = new Date().toISOString();
  const command = commandLine(argv);
  const results: ResultsFile = loadResults(RESULTS_PATH) ?? {
    version: 1,
    lastRun: { ranAt, command, machine },
    groups: {},
  };
  results.lastRun = { ranAt, command, machine };
  console.log(`${command}\n${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  if (machine.load1 > machine.cores) {
    console.log(
      `note: load average ${machine.load1} on ${machine.cores} cores: absolute figures will be low`,
    );
  }

  const rows: Row[] = [];
  let failed = 0;
  for (const group of options.groups) {
    console.log(`\n${group.name}`);
    const record = await runGroup(group, options, {
      ranAt: new Date().toISOString(),
      command,
      quick: options.quick,
      settings: settingsOf(group, options.quick),
      machine: { ...machine, load1: currentLoad() },
    });
    if (record.failed !== undefined) failed++;
    rows.push(...record.rows);
    results.groups[group.name] = record;
    write(results); // after each group, so an interrupted run keeps what it measured
  }
  if (options.json !== undefined)
    writeFileSync(options.json, `${JSON.stringify(jsonRows(rows), null, 2)}\n`);

  const missed = rows.filter((r) => r.met === false);
  console.log(`\nwrote ${REPORT_PATH}${options.json === undefined ? '' : ` and ${options.json}`}`);
  if (missed.length > 0)
    console.log(`targets missed: ${missed.map((r) => `${r.group}/${r.name}`).join('; ')}`);
  if (failed > 0) console.error(`${failed} group(s) failed`);
  return failed > 0 ? 1 : 0;
}

/** The `--json` shape: the issue's fields first, then target, result and spreads. */
function jsonRows(rows: Row[]) {
  return rows.map((r) => ({
    group: r.group,
    name: r.name,
    value: r.value,
    unit: r.unit,
    baseline: r.baseline,
    baselineValue: r.baselineValue,
    ratio: r.ratio,
    target: r.target,
    met: r.met,
    spread: r.spread,
    baselineSpread: r.baselineSpread,
  }));
}

process.exitCode = await main(process.argv.slice(2));
