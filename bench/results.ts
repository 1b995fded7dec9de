// The results sidecar (bench/results.json): the latest measurements of every group with the
// machine and command that produced them, so a run of some groups keeps the others' figures.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type, arch } from 'node:os';
import type { Row, Settings } from './harness.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  node: string;
  os: string;
  /** 1-minute load average when the run started: a hint of how busy the shared machine was. */
  load1: number;
}

/** A chart a group drew (bench/charts/*.svg), shown in its section with its points as a table. */
export interface ChartRecord {
  /** Path from the repository root, e.g. bench/charts/gateway-tokens.svg. */
  file: string;
  title: string;
  /** What the curve showed: where it bends and what was measured beside it. */
  notes: string;
  head: string[];
  rows: string[][];
}

export interface GroupRecord {
  ranAt: string;
  command: string;
  quick: boolean;
  settings: Settings;
  machine: Machine;
  about: string;
  rows: Row[];
  /** Charts drawn by sweeping groups (curves), in the order they appear. */
  charts?: ChartRecord[];
  /** Why the group did not run (e.g. a transport not available). */
  skipped?: string;
  /** The error that stopped the group. */
  failed?: string;
  /** 1-minute load average when the group finished. */
  loadEnd: number;
  /** CPU time / wall time of the timed rounds: the share of one core the process got. */
  cpuShare: number | null;
}

export interface ResultsFile {
  version: 1;
  lastRun: { ranAt: string; command: string; machine: Machine };
  groups: Record<string, GroupRecord>;
}

export function machineFacts(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    node: process.version,
    os: `${type()} ${release()} ${arch()}`,
    load1: currentLoad(),
  };
}

export function currentLoad(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/** Reads the sidecar; a missing or unreadable file starts empty (with a warning for the latter). */
export function loadResults(path: string): ResultsFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<ResultsFile>;
    if (data.version !== 1 || typeof data.groups !== 'object' || data.groups === null) {
      throw new Error('unknown layout');
    }
    return data as ResultsFile;
  } catch (err) {
    console.warn(`warning: ignoring ${path} (${(err as Error).message}); starting afresh`);
    return undefined;
  }
}

export function saveResults(path: string, results: ResultsFile): void {
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}
