// The tree is the architecture: arrows point down only, and the core reaches no broker client
// (checked on the built files, so it holds for what ships).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) out.push((m[1] ?? m[2])!);
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.js') ? [p] : [];
  });
}

/** Every package imported by `entry` and the files it reaches, transitively. */
function reach(entry: string): { files: Set<string>; packages: Set<string> } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of imports(file)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else
        packages.add(
          spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!,
        );
    }
  }
  return { files: seen, packages };
}

const BROKER_CLIENTS = [
  '@nats-io/transport-node',
  '@nats-io/jetstream',
  '@nats-io/kv',
  'amqplib',
  'ioredis',
  'ws',
  'better-sqlite3',
  'openai',
];

test('layers - the core entry points reach no broker client', () => {
  for (const entry of [
    'index.js',
    'protocol/index.js',
    'codec/index.js',
    'bus/index.js',
    'transport/memory/index.js',
  ]) {
    const path = join(dist, entry);
    assert.ok(existsSync(path), `${entry} is built`);
    const { packages } = reach(path);
    const found = BROKER_CLIENTS.filter((p) => packages.has(p));
    assert.deepEqual(found, [], `${entry} reaches ${found.join(', ')}`);
  }
});

test('layers - imports point down the layers only', () => {
  // A layer may import itself and the layers listed after it.
  const order = ['cli', 'llm', 'ops', 'bus', 'transport', 'codec', 'protocol'];
  const layerOf = (file: string) => relative(dist, file).split('/')[0]!;
  const problems: string[] = [];
  for (const file of files(dist)) {
    const from = layerOf(file);
    const at = order.indexOf(from);
    if (at < 0) continue; // index.js at the root re-exports
    for (const spec of imports(file)) {
      if (!spec.startsWith('.')) continue;
      const to = layerOf(resolve(dirname(file), spec));
      const toAt = order.indexOf(to);
      if (toAt >= 0 && toAt < at) problems.push(`${relative(dist, file)} -> ${spec}`);
    }
  }
  assert.deepEqual(problems, []);
});

/** The optional peers and the optional SQLite addon: loaded only when what needs them is used. */
const OPTIONAL_PACKAGES = [
  '@nats-io/transport-node',
  '@nats-io/jetstream',
  '@nats-io/kv',
  'amqplib',
  'ioredis',
  'better-sqlite3',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/resources',
  '@opentelemetry/sdk-trace-node',
];

test('layers - the CLI and its commands import no optional package until it is chosen', () => {
  // Only static imports: a command reaches an adapter by `await import()` when its transport
  // is chosen, and the OpenTelemetry SDK by require() when export is switched on.
  const STATIC_RE = /(?:^|\n)\s*(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]/g;
  const cli = join(dist, 'cli');
  for (const entry of files(cli)) {
    const seen = new Set<string>();
    const todo = [entry];
    const found = new Set<string>();
    while (todo.length > 0) {
      const file = todo.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const m of readFileSync(file, 'utf8').matchAll(STATIC_RE)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
        else if (OPTIONAL_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
          found.add(`${relative(dist, file)} -> ${spec}`);
        }
      }
    }
    assert.deepEqual([...found], [], `${relative(dist, entry)} loads optional packages`);
  }
});

/** Every import cycle among `files` (as `a -> b -> a`), following only relative imports. */
function cycles(all: string[], importsOf: (file: string) => string[]): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of importsOf(file)) {
      if (state.get(next) === 'open') {
        found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of all) if (!state.has(file)) visit(file);
  return found;
}

test('layers - the built files import no cycle', () => {
  const all = files(dist);
  const found = cycles(all, (file) =>
    imports(file)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec)),
  ).map((c) => c.replaceAll(`${dist}/`, ''));
  assert.ok(all.length > 100, `found ${all.length} built files`);
  assert.deepEqual(found, []);
});

test('layers - the sources import no cycle, type-only imports included', () => {
  // `import type` leaves no trace in the built files, yet a cycle through it still ties the
  // modules together: each must be read with the other.
  const src = resolve(dist, '../../src');
  const sources = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
    });
  const all = sources(src);
  const found = cycles(all, (file) =>
    imports(file)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts')),
  ).map((c) => c.replaceAll(`${src}/`, ''));
  assert.ok(all.length > 100, `found ${all.length} source files`);
  assert.deepEqual(found, []);
});
