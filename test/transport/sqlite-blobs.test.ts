// The sqlite blob store across a real crash: a process putting a blob is SIGKILLed half way;
// every part whose put had resolved is in the file for the next process, which resumes the put
// writing only the parts that were not, and reads the blob back whole.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBus } from '../../src/bus/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import { runChild } from './child-run.js';
import { blobBytes, PART_BYTES, PARTS } from './fixtures/sqlite-blob-child.js';

const CHILD = fileURLToPath(new URL('./fixtures/sqlite-blob-child.js', import.meta.url));
const sum = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('base64url');

test('sqlite blobs - parts put before a SIGKILL are in the file; the put resumes from the rest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-blobs-'));
  const path = join(dir, 'journal.db');
  try {
    const run = await runChild(CHILD, ['put', path, 'seed-1'], (line) => line === 'part 20');
    assert.equal(run.signal, 'SIGKILL', run.stderr);
    const said = run.lines.filter((l) => l.startsWith('part ')).map((l) => Number(l.slice(5)));
    assert.ok(said.length >= 21 && !run.lines.includes('committed'), run.lines.join(','));

    const data = blobBytes('seed-1');
    const transport = createSqliteTransport({ path });
    const bus = createBus({ transport });
    try {
      const store = transport.blobs!();
      const held = await store.storedParts('crash/blob@v1');
      for (const index of said) {
        const part = data.subarray(index * PART_BYTES, (index + 1) * PART_BYTES);
        assert.equal(held.get(index), sum(part), `part ${index} survived the kill`);
      }
      await assert.rejects(bus.blobs.stat('crash/blob'), { code: 'not_found' });
      let moved = 0;
      const m = await bus.blobs.put('crash/blob', data, {
        version: 'v1',
        partBytes: PART_BYTES,
        onProgress: (p) => (p.moved ? moved++ : 0),
      });
      assert.equal(moved, PARTS - held.size, 'only the parts the killed process had not stored');
      assert.equal(m.sum, sum(data));
      assert.equal(sum(await bus.blobs.get('crash/blob')), sum(data));
    } finally {
      await bus.close();
      await transport.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
