// The sqlite transport against the conformance suite, unchanged: each test gets a transport on a
// database file of its own, removed when the transport closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { runConformance } from '../conformance/index.js';

async function openTemporary(): Promise<Transport> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-conf-'));
  const transport = createSqliteTransport({ path: join(dir, 'queues.db') });
  return {
    ...transport,
    async close() {
      await transport.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Two transports on one temporary file (two processes would do the same); the last close removes it. */
async function openPair(): Promise<[Transport, Transport]> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-sqlite-conf-'));
  const path = join(dir, 'queues.db');
  let open = 2;
  const one = (): Transport => {
    const transport = createSqliteTransport({ path });
    return {
      ...transport,
      async close() {
        await transport.close();
        if (--open === 0) rmSync(dir, { recursive: true, force: true });
      },
    };
  };
  return [one(), one()];
}

runConformance({ name: 'sqlite', create: openTemporary, pair: openPair });
