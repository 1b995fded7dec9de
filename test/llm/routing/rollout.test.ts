// Rollout routing: reading model@adapter:version names, and the share split of a gradual rollout.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkRolloutRecord,
  InvalidMessageError,
  parseTarget,
  validateBody,
  createEnvelope,
  type ParamsTarget,
  type RolloutRecord,
} from '../../../src/protocol/index.js';
import { RolloutTable } from '../../../src/llm/routing/rollout.js';

const served = (m: string) => ['sim', 'llama3:8b'].includes(m);

function record(over: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    rollout: 1,
    model: 'sim',
    adapter: 'fr',
    version: 'v2',
    previous: 'v1',
    share: 0.3,
    blob: {
      name: 'params/sim/adapter/fr',
      version: 'v2',
      sum: `sha256:${'A'.repeat(43)}`,
      size: 1,
    },
    createdAt: 1,
    ...over,
  };
}

describe('rollout - names', () => {
  test('reads model@adapter, model@adapter:version and model:version; a model with a colon stays whole', () => {
    assert.deepEqual(parseTarget('sim@fr', served), {
      model: 'sim',
      adapter: 'fr',
      version: undefined,
    });
    assert.deepEqual(parseTarget('sim@fr:v2', served), {
      model: 'sim',
      adapter: 'fr',
      version: 'v2',
    });
    assert.deepEqual(parseTarget('sim:v2', served), { model: 'sim', version: 'v2' });
    assert.deepEqual(parseTarget('llama3:8b', served), { model: 'llama3:8b' });
    assert.deepEqual(parseTarget('llama3:8b@fr:v1', served), {
      model: 'llama3:8b',
      adapter: 'fr',
      version: 'v1',
    });
    assert.deepEqual(parseTarget('other:x', served), { model: 'other:x' });
  });

  test('a record or a heartbeat with a bad params entry is invalid_message', () => {
    assert.throws(() => checkRolloutRecord({ ...record(), share: 0 }), InvalidMessageError);
    assert.throws(() => checkRolloutRecord({ ...record(), adapter: 'a:b' }), InvalidMessageError);
    const env = createEnvelope({
      kind: 'heartbeat',
      subject: 'llm.heartbeat.w1',
      body: {
        worker: 'w1',
        status: 'ready',
        models: ['sim'],
        capacity: 1,
        inflight: 0,
        params: [{ model: 'sim', version: 'v1', state: 'ready' }],
      },
    });
    assert.throws(() => validateBody(env), InvalidMessageError);
  });
});

describe('rollout - share', () => {
  test('sends the share of unpinned requests to the new version and the rest to the previous', () => {
    const table = new RolloutTable();
    table.put(record());
    const picks = Array.from({ length: 100 }, () => table.choose('sim@fr', served, () => true));
    assert.equal(picks.filter((p) => p === 'sim@fr:v2').length, 30);
    assert.equal(picks.filter((p) => p === 'sim@fr:v1').length, 70);
    // Any window of 10 holds 3.
    for (let i = 0; i + 10 <= 100; i += 10) {
      assert.equal(picks.slice(i, i + 10).filter((p) => p === 'sim@fr:v2').length, 3);
    }
    assert.equal(
      table.choose('sim@fr:v1', served, () => true),
      'sim@fr:v1',
      'pinned stays',
    );
    assert.equal(
      table.choose('sim@de', served, () => true),
      'sim@de',
      'no rollout for de',
    );
  });

  test('skips a version nobody holds for the other, and leaves the name when neither is held', () => {
    const table = new RolloutTable();
    table.put(record({ share: 0.5 }));
    const onlyOld = (t: ParamsTarget) => t.version === 'v1';
    for (let i = 0; i < 6; i++) assert.equal(table.choose('sim@fr', served, onlyOld), 'sim@fr:v1');
    assert.equal(
      table.choose('sim@fr', served, () => false),
      'sim@fr',
    );
  });

  test('an older record does not replace a newer one', () => {
    const table = new RolloutTable();
    table.put(record({ version: 'v3', createdAt: 10 }));
    table.put(record({ version: 'v2', createdAt: 5 }));
    assert.equal(table.all()[0]?.version, 'v3');
  });
});
