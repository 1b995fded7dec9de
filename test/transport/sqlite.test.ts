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

runConformance({ name: 'sqlite', create: openTemporary });
