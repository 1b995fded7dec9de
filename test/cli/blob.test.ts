// `llmwire blob` as real processes against a real `llmwire up`: put, ls, get (resuming from a
// part file), rm; typed errors for a missing name, a missing file and bad flags; a progress bar
// only when asked for off a terminal; and the roles of the hub (a client or observer may not read,
// a worker may read but not write).
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { llmwire } from './helpers.js';
import { startUp } from './blob-harness.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('cli - blob', () => {
  test('put, ls, get and rm a file through llmwire up', { timeout: 120_000 }, async () => {
    const { up, bus, dir } = await startUp();
    await using _up = up;
    try {
      const file = join(dir, 'in.bin');
      const data = randomBytes(3 * 1024 * 1024 + 5);
      writeFileSync(file, data);
      const put = await llmwire(['blob', 'put', file, '--name', 'models/m', '--connect', bus]);
      assert.equal(put.code, 0, put.stderr);
      assert.match(
        put.stdout,
        /^put models\/m@s\S+: 3\.00 MiB in 4 parts \(4 written, 0 already stored\) sha256:/,
      );
      assert.equal(put.stderr, '', 'no progress bar off a terminal');
      // The same file again writes nothing: its version comes from its content.
      const again = await llmwire(['blob', 'put', file, '--name', 'models/m', '--connect', bus]);
      assert.match(again.stdout, /\(0 written, 4 already stored\)/);
      const ls = await llmwire(['blob', 'ls', 'models/', '--connect', bus]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout, /^NAME\s+NEWEST\s+VERSIONS\s+SIZE\s+PARTS\s+CREATED\n/);
      assert.match(ls.stdout, /models\/m\s+s\S+\s+1\s+3\.00 MiB\s+4\s/);
      const out = join(dir, 'out.bin');
      const get = await llmwire([
        'blob',
        'get',
        'models/m',
        '--out',
        out,
        '--connect',
        bus,
        '--progress',
      ]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(sha(readFileSync(out)), sha(data));
      assert.match(get.stdout, /4 parts fetched, 0 kept/);
      assert.match(
        get.stderr,
        /get models\/m \[#+\] 100% 3\.00 MiB \/ 3\.00 MiB/,
        'the bar when asked for',
      );
      // A part file holding the first two parts (as a killed download leaves it): kept.
      const resumed = join(dir, 'resumed.bin');
      const first = await llmwire([
        'blob',
        'get',
        'models/m',
        '--out',
        resumed,
        '--connect',
        bus,
        '--json',
      ]);
      const m = JSON.parse(first.stdout) as { version: string; sum: string };
      rmSync(resumed);
      writeFileSync(`${resumed}.part`, data.subarray(0, 2 * 1024 * 1024));
      writeFileSync(
        `${resumed}.part.json`,
        JSON.stringify({ name: 'models/m', version: m.version, sum: m.sum }),
      );
      const again2 = await llmwire([
        'blob',
        'get',
        'models/m',
        '--out',
        resumed,
        '--connect',
        bus,
        '--json',
      ]);
      assert.equal(again2.code, 0, again2.stderr);
      const r = JSON.parse(again2.stdout) as { fetched: number; reused: number };
      assert.deepEqual([r.fetched, r.reused], [2, 2]);
      assert.equal(sha(readFileSync(resumed)), sha(data));
      const rm = await llmwire(['blob', 'rm', 'models/m', '--connect', bus]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /removed models\/m \(every version\)/);
      const empty = await llmwire(['blob', 'ls', '--connect', bus]);
      assert.equal(empty.stdout.trim(), 'no blobs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(
    'a missing name, a missing file and bad flags get typed errors saying what to fix',
    { timeout: 120_000 },
    async () => {
      const { up, bus, dir } = await startUp();
      await using _up = up;
      try {
        const cases: [string[], RegExp][] = [
          [
            ['blob', 'get', 'nope', '--out', join(dir, 'x'), '--connect', bus],
            /blob 'nope' not found \[not_found\]/,
          ],
          [['blob', 'rm', 'nope', '--connect', bus], /no blob 'nope' to remove.*\[not_found\]/],
          [
            ['blob', 'put', join(dir, 'absent.bin'), '--name', 'x', '--connect', bus],
            /no file at .*absent\.bin.*\[not_found\]/,
          ],
          [['blob', 'put', dir, '--name', 'x'], /is not a file.*\[config_invalid\]/],
          [['blob', 'put', join(dir, 'absent.bin')], /needs --name NAME.*\[config_invalid\]/],
          [['blob', 'put', '-', '--name', 'x'], /needs --version V.*\[config_invalid\]/],
          [['blob', 'get', 'x'], /needs --out FILE.*\[config_invalid\]/],
          [
            ['blob', 'get', 'x', '--out', 'y', '--name', 'z'],
            /--name does not apply to 'llmwire blob get'.*\[config_invalid\]/,
          ],
          [['blob', 'frob'], /unknown blob command 'frob'.*\[config_invalid\]/],
          [['blob', 'ls', 'a', 'b'], /too many arguments.*\[config_invalid\]/],
          [
            ['blob', 'get', 'x', '--out', 'y', '--concurrency', '0'],
            /--concurrency.*\[config_invalid\]/,
          ],
          [
            ['blob', 'put', '-', '--name', 'x', '--version', 'v', '--part-bytes', '12'],
            /--part-bytes.*\[config_invalid\]/,
          ],
          [
            ['blob', 'get', '../etc', '--out', join(dir, 'y'), '--connect', bus],
            /blob name "\.\.\/etc" is not valid.*\[config_invalid\]/,
          ],
          [['blob', 'ls', '--bogus'], /Unknown option '--bogus'.*\[config_invalid\]/],
        ];
        for (const [args, expected] of cases) {
          const run = await llmwire(args);
          assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
          assert.match(run.stderr, expected, args.join(' '));
        }
        const unreachable = await llmwire([
          'blob',
          'ls',
          '--connect',
          'ws://127.0.0.1:1/v1/bus',
          '--connect-timeout-ms',
          '500',
        ]);
        assert.equal(unreachable.code, 3);
        assert.match(unreachable.stderr, /\[unreachable\]/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    'with credentials: a worker reads but may not write or remove; a client may not read',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-blob-roles-'));
      const config = join(dir, 'llmwire.json');
      writeFileSync(
        config,
        JSON.stringify({
          identities: [
            { name: 'ops', role: 'operator', key: 'op-key-0123456789abcdef' },
            { name: 'w1', role: 'worker', key: 'worker-key-0123456789abcdef' },
            { name: 'acme', role: 'client', key: 'client-key-0123456789abcdef' },
          ],
        }),
      );
      const { up, bus, dir: upDir } = await startUp(['--config', config]);
      await using _up = up;
      try {
        const file = join(dir, 'in.bin');
        const data = randomBytes(100_000);
        writeFileSync(file, data);
        const as = (key: string, ...args: string[]) =>
          llmwire(['blob', ...args, '--connect', bus, '--token', key]);
        const put = await as('op-key-0123456789abcdef', 'put', file, '--name', 'w/a');
        assert.equal(put.code, 0, put.stderr);
        const out = join(dir, 'out.bin');
        const read = await as('worker-key-0123456789abcdef', 'get', 'w/a', '--out', out);
        assert.equal(read.code, 0, read.stderr);
        assert.equal(sha(readFileSync(out)), sha(data));
        for (const [key, args] of [
          ['worker-key-0123456789abcdef', ['put', file, '--name', 'w/evil']],
          ['worker-key-0123456789abcdef', ['rm', 'w/a']],
          ['client-key-0123456789abcdef', ['get', 'w/a', '--out', join(dir, 'c.bin')]],
          ['client-key-0123456789abcdef', ['ls']],
        ] as const) {
          const run = await as(key, ...args);
          assert.equal(run.code, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
          assert.match(
            run.stderr,
            /may not publish on 'blobs\.(read|write)\.\w+'.*\[forbidden\]/,
            args.join(' '),
          );
        }
        const ls = await as('op-key-0123456789abcdef', 'ls', '--json');
        assert.deepEqual(
          (JSON.parse(ls.stdout) as { name: string }[]).map((e) => e.name),
          ['w/a'],
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(upDir, { recursive: true, force: true });
      }
    },
  );
});
