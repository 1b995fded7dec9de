// AnswerJoiner: a streamed answer joined back into a whole one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerJoiner } from '../../src/llm/answer.js';

test('answer joiner - text read between, during and after joins is every piece in order', () => {
  const joiner = new AnswerJoiner();
  let expected = '';
  // Past several joins (every 64 pieces), with empty pieces and reads in between.
  for (let i = 0; i < 300; i++) {
    const piece = i % 7 === 0 ? '' : `w${i} `;
    joiner.add({ text: piece });
    expected += piece;
    if (i % 50 === 0) assert.equal(joiner.text, expected, `after piece ${i}`);
  }
  assert.equal(joiner.text, expected);
  const usage = { prompt_tokens: 1, completion_tokens: 300, total_tokens: 301 };
  const end = { model: 'sim', text: '', finish_reason: 'stop' as const, usage };
  assert.equal(joiner.result(end).text, expected);
});

test('answer joiner - tool calls join by index; none gives undefined', () => {
  const joiner = new AnswerJoiner();
  joiner.add({ text: 'x' });
  assert.equal(joiner.toolCalls(), undefined);
  joiner.add({
    text: '',
    tool_calls: [{ index: 1, id: 'b', function: { name: 'g', arguments: '{"y"' } }],
  });
  joiner.add({
    text: '',
    tool_calls: [
      { index: 0, id: 'a', function: { name: 'f', arguments: '{}' } },
      { index: 1, function: { arguments: ':2}' } },
    ],
  });
  assert.deepEqual(joiner.toolCalls(), [
    { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
    { id: 'b', type: 'function', function: { name: 'g', arguments: '{"y":2}' } },
  ]);
});
