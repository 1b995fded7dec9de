// Conformance: every row of the queue contract's table of bad arguments (queue-contract.ts) gets
// the same answer on this transport: the error class and code, or acceptance.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ConfigError,
  createEnvelope,
  InvalidMessageError,
  type Envelope,
} from '../../src/protocol/index.js';
import {
  QUEUE_ARGUMENT_TABLE,
  type ContractCall,
  type ContractRow,
} from '../../src/transport/queue-contract.js';
import type {
  Delivery,
  DurableQueue,
  NackOptions,
  QueueOptions,
  ReceiveOptions,
  Transport,
} from '../../src/transport/transport.js';
import { unique, type TransportFactory } from './harness.js';

/** The argument under test, shown in the test name. */
function shown(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
  );
}

function label(call: ContractCall): string {
  switch (call.method) {
    case 'queue':
      return call.name === undefined
        ? `queue(options ${shown(call.options)})`
        : `queue(name ${shown(call.name)})`;
    case 'enqueue':
      return `enqueue(${call.envelope ? `message ${shown(call.envelope)}` : ''}${
        call.options ? `options ${shown(call.options)}` : ''
      })`;
    case 'receive':
    case 'nack':
    case 'deadLetters':
      return `${call.method}(${shown(call.options)})`;
    case 'extend':
      return `extend(${shown(call.ms)})`;
    case 'reject':
      return `reject(${shown(call.error)})`;
    case 'replayDeadLetters':
    case 'purgeDeadLetters':
      return `${call.method}(${shown(call.ids)})`;
  }
}

function message(queue: string, fields: Record<string, unknown> = {}): Envelope {
  return { ...createEnvelope({ kind: 'event', subject: queue, body: 'x' }), ...fields };
}

/** A delivery held on a queue of its own, for the rows that call a delivery's methods. */
async function leased(transport: Transport): Promise<Delivery> {
  const q = transport.queue(unique('args'), { leaseMs: 30_000 });
  await q.enqueue(message(q.name));
  const [d] = await q.receive({ max: 1, waitMs: 5000 });
  assert.ok(d, 'expected a delivery');
  return d;
}

/** Makes the call of one row; bad arguments go in as they are, untyped. */
async function perform(transport: Transport, call: ContractCall): Promise<unknown> {
  const queue = (): DurableQueue => transport.queue(unique('args'));
  switch (call.method) {
    case 'queue':
      return transport.queue(call.name ?? unique('args'), call.options as QueueOptions);
    case 'enqueue': {
      const q = queue();
      return q.enqueue(message(q.name, call.envelope), call.options as never);
    }
    case 'receive':
      return queue().receive(call.options as ReceiveOptions);
    case 'nack':
      return (await leased(transport)).nack(call.options as NackOptions);
    case 'extend':
      return (await leased(transport)).extend(call.ms as number);
    case 'reject':
      return (await leased(transport)).reject(call.error as never);
    case 'deadLetters':
      return queue().deadLetters(call.options as { limit?: number });
    case 'replayDeadLetters':
      return queue().replayDeadLetters(call.ids as string[]);
    case 'purgeDeadLetters':
      return queue().purgeDeadLetters(call.ids as string[]);
  }
}

async function check(transport: Transport, row: ContractRow): Promise<void> {
  const run = async () => perform(transport, row.call);
  if ('accepts' in row.answer) {
    await run();
    return;
  }
  const code = row.answer.error;
  const expected = code === 'config_invalid' ? ConfigError : InvalidMessageError;
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof expected, `expected ${expected.name}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

export function queueArgumentsSuite(factory: TransportFactory): void {
  describe(`${factory.name} - queue arguments (the contract's table)`, () => {
    let transport: Transport;
    before(async () => {
      transport = await factory.create();
    });
    after(() => transport.close());
    for (const row of QUEUE_ARGUMENT_TABLE) {
      const answer = 'accepts' in row.answer ? 'accepted' : row.answer.error;
      test(`${label(row.call)} - ${answer}`, () => check(transport, row));
    }
  });
}
