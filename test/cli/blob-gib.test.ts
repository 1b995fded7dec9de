// The 1 GiB proofs of blobs across processes: a 1 GiB blob, generated from a seeded stream and
// fed to `llmwire blob put` on its standard input, reaches three `llmwire blob get` processes
// with the SHA-256 it was put with; one receiver SIGKILLed half way is started again and fetches
// no more than the parts its part file did not hold; the RSS of every process, sampled from
// /proc throughout, stays under 200 MB. On the embedded default (`llmwire up` serving its sqlite
// store over its hub) and on NATS (the JetStream Object Store every process reaches).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NATS_URL, NEEDS, skipUnless } from '../helpers/requires.js';
import {
  fileSha,
  RssSampler,
  seededSha,
  seededStream,
  spawnLlmwire,
  startUp,
} from './blob-harness.js';

const GiB = 1024 * 1024 * 1024;
const LIMIT_KIB = 200 * 1000; // 200 MB
const PART = 1024 * 1024;

interface Manifest {
  parts: string[];
  partBytes: number;
  size: number;
}

/** Parts of `manifest` that `file` (a download's part file) holds whole and matching their sum. */
async function partsHeld(file: string, manifest: Manifest): Promise<number> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  const handle = await open(file, 'r');
  const buf = Buffer.allocUnsafe(manifest.partBytes);
  let held = 0;
  try {
    for (let i = 0; i < manifest.parts.length; i++) {
      const at = i * manifest.partBytes;
      const n = Math.min(manifest.partBytes, manifest.size - at);
      if (at + n > size) break;
      await handle.read(buf, 0, n, at);
      const sum = 'sha256:' + createHash('sha256').update(buf.subarray(0, n)).digest('base64url');
      if (sum === manifest.parts[i]) held++;
    }
  } finally {
    await handle.close();
  }
  return held;
}

async function proof(connect: string, rss: RssSampler, dir: string): Promise<void> {
  const name = `proof/gib-${Date.now()}`;
  const seed = `llmwire-${name}`;
  const expected = seededSha(seed, GiB);
  const common = ['--connect', connect, '--json'];

  const put = spawnLlmwire(
    [
      'blob',
      'put',
      '-',
      '--name',
      name,
      '--version',
      'v1',
      '--part-bytes',
      String(PART),
      ...common,
    ],
    seededStream(seed, GiB),
  );
  rss.watch('sender', put.child.pid);
  const sent = await put.done;
  assert.equal(sent.code, 0, sent.stderr);
  const putResult = JSON.parse(sent.stdout) as { size: number; parts: number; moved: number };
  assert.equal(putResult.size, GiB);
  assert.equal(putResult.parts, GiB / PART);

  const outs = [1, 2, 3].map((i) => join(dir, `receiver-${i}.bin`));
  const gets = outs.map((out, i) => {
    const g = spawnLlmwire(['blob', 'get', name, '--out', out, ...common]);
    rss.watch(`receiver ${i + 1}`, g.child.pid);
    return g;
  });
  // Receiver 3 is killed once its part file holds half the blob.
  const victim = gets[2]!;
  for (;;) {
    const size = await stat(`${outs[2]}.part`).then(
      (s) => s.size,
      () => 0,
    );
    if (size >= GiB / 2) break;
    if (victim.child.exitCode !== null) assert.fail('receiver 3 ended before it was killed');
    await new Promise((r) => setTimeout(r, 20));
  }
  victim.child.kill('SIGKILL');
  assert.equal((await victim.done).code, 128);
  for (const g of gets.slice(0, 2)) {
    const got = await g.done;
    assert.equal(got.code, 0, got.stderr);
    const result = JSON.parse(got.stdout) as { fetched: number; reused: number };
    assert.equal(result.fetched, GiB / PART);
  }

  // What the killed receiver had stored, read from its part file against the manifest.
  const stat1 = spawnLlmwire(['blob', 'ls', 'proof/', ...common]);
  const listed = JSON.parse((await stat1.done).stdout) as {
    name: string;
    latest: { parts: number };
  }[];
  assert.ok(listed.some((e) => e.name === name));
  const manifest = await manifestOf(outs[0]!, GiB, PART);
  const held = await partsHeld(`${outs[2]}.part`, manifest);
  assert.ok(held > 0 && held < manifest.parts.length, `held ${held} parts at the kill`);

  const again = spawnLlmwire(['blob', 'get', name, '--out', outs[2]!, ...common]);
  rss.watch('receiver 3 again', again.child.pid);
  const resumed = await again.done;
  assert.equal(resumed.code, 0, resumed.stderr);
  const r = JSON.parse(resumed.stdout) as { fetched: number; reused: number };
  assert.equal(r.fetched + r.reused, manifest.parts.length);
  assert.ok(
    r.fetched <= manifest.parts.length - held,
    `fetched ${r.fetched} parts; ${manifest.parts.length - held} were not stored`,
  );

  const removed = await spawnLlmwire(['blob', 'rm', name, ...common]).done;
  assert.equal(removed.code, 0, removed.stderr);
  const sha = await expected;
  for (const out of outs) assert.equal(await fileSha(out), sha, out);
  rss.sample();
  for (const [label, kib] of rss.peakKiB) {
    assert.ok(kib < LIMIT_KIB, `${label} peaked at ${Math.round(kib / 1000)} MB`);
    assert.ok((rss.samples.get(label) ?? 0) > 0, `${label} was sampled`);
  }
}

/** The part sums of the blob as a receiver's finished file has it (for counting held parts). */
async function manifestOf(file: string, size: number, partBytes: number): Promise<Manifest> {
  const handle = await open(file, 'r');
  const buf = Buffer.allocUnsafe(partBytes);
  const parts: string[] = [];
  try {
    for (let at = 0; at < size; at += partBytes) {
      const n = Math.min(partBytes, size - at);
      await handle.read(buf, 0, n, at);
      parts.push('sha256:' + createHash('sha256').update(buf.subarray(0, n)).digest('base64url'));
    }
  } finally {
    await handle.close();
  }
  return { parts, partBytes, size };
}

const natsNeeded = await skipUnless('blob 1 GiB on NATS', NEEDS.nats);

describe('blob - 1 GiB across processes', () => {
  test(
    'embedded: llmwire up, a put and three gets over its hub; a killed get resumes; RSS < 200 MB',
    { timeout: 300_000 },
    async () => {
      const { up, bus, dir } = await startUp();
      await using _up = up;
      const rss = new RssSampler();
      rss.watch('llmwire up', up.child.pid);
      try {
        await proof(bus, rss, dir);
      } finally {
        rss.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    'nats: a put and three gets on the JetStream Object Store; a killed get resumes; RSS < 200 MB',
    { timeout: 300_000, ...natsNeeded },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-blob-nats-'));
      const rss = new RssSampler();
      try {
        await proof(NATS_URL, rss, dir);
      } finally {
        rss.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
