// Conformance: record stores (records.ts) behave the same on every transport that has them, and
// every row of the records contract's table (records-contract.ts) gets the same answer. A
// transport without stores (amqp, ws) is checked to have no `records`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClosedError, ConfigError, PayloadTooLargeError } from '../../src/protocol/index.js';
import {
  RECORDS_ARGUMENT_TABLE,
  type RecordsCall,
  type RecordsRow,
} from '../../src/transport/records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../../src/transport/records.js';
import type { Transport } from '../../src/transport/transport.js';
import { eventually, sleep, unique, type TransportFactory } from './harness.js';

const bytes = (text: string) => new TextEncoder().encode(text);

/** A store of a fresh name (the suite runs only where the transport has record stores). */
function open(
  transport: Transport,
  name = unique('rec'),
  options?: RecordStoreOptions,
): RecordStore {
  assert.ok(transport.records !== undefined, `${transport.name} has record stores`);
  return transport.records(name, options);
}

function shown(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  if (typeof value === 'string' && value.length > 40)
    return `'${value.slice(0, 12)}…' (${value.length})`;
  return (
    JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    ) ?? 'undefined'
  );
}

function label(call: RecordsCall): string {
  switch (call.method) {
    case 'records':
      return 'options' in call
        ? `records(options ${shown(call.options)})`
        : `records(name ${shown(call.name)})`;
    case 'put':
      return 'value' in call ? `put(value ${shown(call.value)})` : `put(key ${shown(call.key)})`;
    case 'get':
    case 'delete':
      return `${call.method}(key ${shown(call.key)})`;
  }
}

async function perform(transport: Transport, call: RecordsCall): Promise<unknown> {
  const records = transport.records!.bind(transport);
  switch (call.method) {
    case 'records':
      return records(
        'name' in call ? (call.name as string) : unique('rec'),
        call.options as RecordStoreOptions,
      );
    case 'put': {
      const key = 'key' in call ? call.key : 'k';
      const value = 'value' in call ? call.value : bytes('v');
      return records(unique('rec')).put(key as string, value as Uint8Array);
    }
    case 'get':
      return records(unique('rec')).get(call.key as string);
    case 'delete':
      return records(unique('rec')).delete(call.key as string);
  }
}

async function check(transport: Transport, row: RecordsRow): Promise<void> {
  const run = async () => perform(transport, row.call);
  const answer = row.answer;
  if ('accepts' in answer) {
    await run();
    return;
  }
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, answer.error);
    return true;
  });
}

export function recordsSuite(factory: TransportFactory): void {
  if (factory.noRecords === true) {
    test(`${factory.name} - has no record stores: records is absent`, async () => {
      const transport = await factory.create();
      try {
        assert.equal('records' in transport && transport.records !== undefined, false);
      } finally {
        await transport.close();
      }
    });
    return;
  }
  describe(`${factory.name} - record stores`, () => {
    let transport: Transport;
    before(async () => {
      transport = await factory.create();
    });
    after(() => transport.close());

    test('records - a put is read back, an absent key reads undefined', async () => {
      const store = open(transport);
      await store.put('resp_1', bytes('hello'));
      assert.deepEqual(await store.get('resp_1'), bytes('hello'));
      assert.equal(await store.get('resp_2'), undefined);
      await store.put('empty', new Uint8Array(0));
      assert.deepEqual(await store.get('empty'), new Uint8Array(0));
    });

    test('records - a second put replaces the value', async () => {
      const store = open(transport);
      await store.put('k', bytes('one'));
      await store.put('k', bytes('two'));
      assert.deepEqual(await store.get('k'), bytes('two'));
    });

    test('records - delete removes a record and says whether there was one', async () => {
      const store = open(transport);
      await store.put('k', bytes('v'));
      assert.equal(await store.delete('k'), true);
      assert.equal(await store.get('k'), undefined);
      assert.equal(await store.delete('k'), false);
      assert.equal(await store.delete('never'), false);
      await store.put('k', bytes('again'));
      assert.deepEqual(await store.get('k'), bytes('again'));
    });

    test('records - the bytes stored are not the caller’s to change afterwards', async () => {
      const store = open(transport);
      const value = bytes('abc');
      await store.put('k', value);
      value[0] = 0x7a;
      const got = await store.get('k');
      assert.deepEqual(got, bytes('abc'));
      got[1] = 0x7a;
      assert.deepEqual(await store.get('k'), bytes('abc'));
    });

    test('records - stores of one name share records, stores of two names do not', async () => {
      const name = unique('rec');
      const a = open(transport, name);
      const b = transport.records!(name);
      const other = transport.records!(unique('rec'));
      await a.put('k', bytes('from a'));
      assert.deepEqual(await b.get('k'), bytes('from a'));
      assert.equal(await other.get('k'), undefined);
      await other.put('k', bytes('other'));
      assert.deepEqual(await a.get('k'), bytes('from a'));
    });

    // Memory transports share nothing, so only factories with a pair run this.
    const pair = factory.pair;
    if (pair !== undefined)
      test('records - two transports on one broker share a store of one name', async () => {
        const [one, two] = await pair();
        try {
          const name = unique('rec');
          await one.records!(name).put('shared', bytes('from one'));
          assert.deepEqual(await two.records!(name).get('shared'), bytes('from one'));
          assert.equal(await two.records!(name).delete('shared'), true);
          assert.equal(await one.records!(name).get('shared'), undefined);
        } finally {
          await Promise.all([one.close(), two.close()]);
        }
      });

    test('records - a record is forgotten ttlMs after its last put', async () => {
      // Real time, as the brokers expire by their own clocks; test/transport/records-clock
      // moves an injected clock on memory and sqlite instead.
      const store = open(transport, unique('rec'), { ttlMs: 1000 });
      const kept = transport.records!(unique('rec'));
      await store.put('k', bytes('v'));
      await kept.put('k', bytes('v'));
      await sleep(600);
      await store.put('k', bytes('v2'));
      await sleep(600);
      assert.deepEqual(await store.get('k'), bytes('v2'), 'a put starts the TTL again');
      await eventually(async () => (await store.get('k')) === undefined, 6000);
      assert.equal(await store.delete('k'), false);
      assert.deepEqual(await kept.get('k'), bytes('v'), 'a store without ttlMs keeps records');
    });

    test('records - a value of maxValueBytes is kept, one byte more is refused', async () => {
      const store = open(transport);
      const max = store.maxValueBytes;
      assert.ok(Number.isInteger(max) && max >= 512 * 1024, `maxValueBytes ${max}`);
      const big = new Uint8Array(max);
      for (let i = 0; i < max; i += 4096) big[i] = i % 251;
      big[max - 1] = 7;
      await store.put('big', big);
      const got = await store.get('big');
      assert.equal(got?.byteLength, max);
      assert.ok(Buffer.from(got).equals(Buffer.from(big)), 'the same bytes come back');
      await assert.rejects(store.put('big', new Uint8Array(max + 1)), (err: unknown) => {
        assert.ok(err instanceof PayloadTooLargeError, String(err));
        assert.equal(err.code, 'payload_too_large');
        assert.match(err.message, new RegExp(`at most ${max}\\b`));
        return true;
      });
      assert.equal((await store.get('big'))?.byteLength, max, 'the refused put changed nothing');
    });

    describe('records - the contract’s table', () => {
      for (const row of RECORDS_ARGUMENT_TABLE) {
        const answer = 'accepts' in row.answer ? 'accepted' : row.answer.error;
        test(`${label(row.call)} - ${answer}`, () => check(transport, row));
      }
    });
  });

  test(`${factory.name} - records - calls after close fail as the transport's do`, async () => {
    const transport = await factory.create();
    const store = open(transport);
    await store.put('k', bytes('v'));
    await transport.close();
    const closed = (err: unknown) => {
      assert.ok(err instanceof ClosedError, String(err));
      assert.equal(err.code, 'closed');
      return true;
    };
    await assert.rejects(store.put('k', bytes('v')), closed);
    await assert.rejects(store.get('k'), closed);
    await assert.rejects(store.delete('k'), closed);
    assert.throws(() => transport.records!(unique('rec')), closed);
    assert.throws(() => transport.queue(unique('q')), closed, 'the same error as queue()');
  });
}
