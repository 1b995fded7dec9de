// The TypeScript examples of the README and of the guides that show whole programs
// (docs/dataplane.md) compile: each ```ts block is written to a file inside the
// package (so `import ... from 'llmwire'` resolves to the built package by its own name and
// exports map, as for a user) and typechecked with tsc in strict mode.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

/** The ```ts and ```typescript blocks of a Markdown text. */
function typescriptBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

const DOCS = ['README.md', 'docs/dataplane.md'];

test('readme - every TypeScript example typechecks against the built package', () => {
  const blocks = DOCS.flatMap((doc) => {
    const found = typescriptBlocks(readFileSync(join(ROOT, doc), 'utf8'));
    assert.ok(found.length > 0, `${doc} has TypeScript examples`);
    return found;
  });
  const dir = join(ROOT, 'dist', 'readme-examples');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    // An `export {}` makes each example a module, so top-level await is allowed.
    blocks.forEach((code, i) =>
      writeFileSync(join(dir, `example-${i + 1}.ts`), `${code}\nexport {};\n`),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `tsc on the examples of ${DOCS.join(', ')}:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
