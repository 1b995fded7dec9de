// How the amqp transport names things on the broker and maps llmwire patterns onto AMQP topic
// binding keys. No broker needed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, InvalidMessageError } from '../../src/protocol/index.js';
import {
  bindingKey,
  checkRoutingKey,
  delayBindingKey,
  delayRoutingKey,
  DELAY_LEVELS,
  MAX_DELAY_MS,
  Names,
} from '../../src/transport/amqp/names.js';
import { checkPattern } from '../../src/transport/subject.js';

const key = (pattern: string) => bindingKey(checkPattern(pattern));

test("amqp names - '>' becomes '*.#' so it needs at least one more token, '*' stays", () => {
  assert.equal(key('a.>'), 'a.*.#');
  assert.equal(key('>'), '*.#');
  assert.equal(key('a.*.c'), 'a.*.c');
  assert.equal(key('a.b'), 'a.b');
});

test('amqp names - a delay is spelled in binary, highest level first, then the destination', () => {
  const rk = delayRoutingKey(5, 'ns.q.jobs.retry');
  const bits = rk.split('.').slice(0, DELAY_LEVELS);
  assert.equal(bits.length, DELAY_LEVELS);
  assert.deepEqual(bits.slice(-3), ['1', '0', '1']);
  assert.ok(bits.slice(0, -3).every((b) => b === '0'));
  assert.ok(rk.endsWith('.ns.q.jobs.retry'));
  // Level 2's exchange sends a set third bit into its queue and a clear one down.
  const l2 = delayBindingKey(2, '1').split('.');
  assert.equal(l2.length, DELAY_LEVELS - 2 + 1);
  assert.equal(l2.at(-2), '1');
  assert.equal(MAX_DELAY_MS, 2 ** 31 - 1);
});

test('amqp names - every name of a queue fits an AMQP short string at the longest', () => {
  const names = new Names('n'.repeat(32));
  const q = names.queue('q'.repeat(128));
  for (const name of Object.values(q)) assert.ok(name.length <= 255, name);
  assert.ok(delayRoutingKey(MAX_DELAY_MS, q.retry).length <= 255);
  assert.ok(names.groupQueue('a.>', 'g'.repeat(300)).length <= 255);
});

test('amqp names - refuses a bad namespace and a subject too long for a routing key', () => {
  assert.throws(() => new Names(''), ConfigError);
  assert.throws(() => new Names('has space'), ConfigError);
  assert.throws(() => new Names('x'.repeat(33)), ConfigError);
  assert.throws(() => checkRoutingKey('a'.repeat(256)), InvalidMessageError);
  checkRoutingKey('a'.repeat(255));
});
