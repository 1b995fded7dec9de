// Record expiry, exactly, on the transports that keep record time in this process (memory,
// sqlite): each test moves an injected clock instead of sleeping. The brokers expire records by
// their own clocks, so the conformance suite checks expiry there in real time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { RecordStore } from '../../src/transport/records.js';
import type { Transport } from '../../src/transport/transport.js';
import { ManualClock } from './fixtures/clock.js';

const transports: { name: string; open: (t: TestContext) => Transport }[] = [
  {
    name: 'memory',
    open: (t) => {
      const transport = createMemoryTransport();
      t.after(() => transport.close());
      return transport;
    },
  },
  {
    name: 'sqlite',
    open: (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-records-clock-'));
      const transport = createSqliteTransport({ path: join(dir, 'records.db') });
      t.after(async () => {
        await transport.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return transport;
    },
  },
];

const bytes = (text: string) => new TextEncoder().encode(text);

for (const { name, open } of transports) {
  describe(`${name} - record expiry by the injected clock`, () => {
    const store = (t: TestContext, clock: ManualClock, ttlMs = 1000): RecordStore =>
      open(t).records!('clocked', { ttlMs, clock });

    test('records - kept until ttlMs after the put, gone at ttlMs', async (t) => {
      const clock = new ManualClock();
      const s = store(t, clock);
      await s.put('k', bytes('v'));
      clock.advance(999);
      assert.deepEqual(await s.get('k'), bytes('v'));
      clock.advance(1);
      assert.equal(await s.get('k'), undefined);
      assert.equal(await s.delete('k'), false, 'an expired record is not removed by delete');
    });

    test('records - a put starts the TTL again', async (t) => {
      const clock = new ManualClock();
      const s = store(t, clock);
      await s.put('k', bytes('one'));
      clock.advance(800);
      await s.put('k', bytes('two'));
      clock.advance(800);
      assert.deepEqual(await s.get('k'), bytes('two'));
      clock.advance(200);
      assert.equal(await s.get('k'), undefined);
    });

    test('records - a put after expiry stores afresh; expired records are swept', async (t) => {
      const clock = new ManualClock();
      const s = store(t, clock);
      for (let i = 0; i < 50; i++) await s.put(`old.${i}`, bytes('x'));
      clock.advance(5000);
      await s.put('new', bytes('fresh'));
      await s.put('old.0', bytes('again'));
      assert.deepEqual(await s.get('new'), bytes('fresh'));
      assert.deepEqual(await s.get('old.0'), bytes('again'));
      assert.equal(await s.get('old.1'), undefined);
    });
  });
}
