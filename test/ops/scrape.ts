// Reading a Prometheus exposition in tests: samples by name and labels, and promtool's verdict.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { NEEDS, PROMTOOL_PATH, skipUnless } from '../helpers/requires.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE_RE.exec(line);
    if (m === null) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL_RE)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export class Scrape {
  readonly samples: Sample[];
  constructor(readonly text: string) {
    this.samples = parseExposition(text);
  }

  /** Sum of the samples named `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  }

  /** Whether any sample is named `name` (with labels including `match`). */
  has(name: string, match: Record<string, string> = {}): boolean {
    return this.samples.some(
      (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
    );
  }
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET ${url}: content-type ${type}`);
  return new Scrape(await res.text());
}

/** `promtool check metrics` on the exposition: its exit status and what it printed. */
export function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL_PATH, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const needsPromtool = await skipUnless('metrics - promtool check metrics', NEEDS.promtool);

/** A subtest of `t`: `promtool check metrics` accepts the exposition (skipped without promtool). */
export async function promtoolAccepts(t: TestContext, text: string): Promise<void> {
  await t.test('passes promtool check metrics', needsPromtool, () => {
    const check = promtool(text);
    assert.equal(check.status, 0, check.output);
  });
}
