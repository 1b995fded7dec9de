// The openai backend's SSE reader: events split anywhere across reads, every line ending the
// standard allows, multi-line data, comments and other fields, and a last event with no blank
// line after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '../../../src/llm/backends/openai/sse.js';

function parse(reads: (string | Uint8Array)[]): SseEvent[] {
  const parser = new SseParser();
  const out: SseEvent[] = [];
  for (const r of reads) parser.push(typeof r === 'string' ? Buffer.from(r) : r, out);
  parser.end(out);
  return out;
}

const STREAM =
  ': comment\n' +
  'data: {"a":1}\n\n' +
  'event: ping\r\ndata: x\r\n\r\n' +
  'data: line one\rdata: line two\r\r' +
  'id: 7\nretry: 10\ndata:no-space\n\n' +
  'data: é ü 𝄞\n\n' +
  'data: [DONE]';

const EXPECTED: SseEvent[] = [
  { event: null, data: '{"a":1}' },
  { event: 'ping', data: 'x' },
  { event: null, data: 'line one\nline two' },
  { event: null, data: 'no-space' },
  { event: null, data: 'é ü 𝄞' },
  { event: null, data: '[DONE]' },
];

test('openai sse - reads every line ending, multi-line data, comments and a last event without a blank line', () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test('openai sse - the same events however the bytes are split across reads', () => {
  const bytes = Buffer.from(STREAM);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
      (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const reads = at.slice(1).map((end, i) => bytes.subarray(at[i], end));
        assert.deepEqual(parse(reads), EXPECTED);
      },
    ),
  );
});

test('openai sse - a whole stream in one read is read in one pass', () => {
  const n = 20_000;
  const events = 'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'.repeat(n);
  const out = parse([events]);
  assert.equal(out.length, n);
});

test('openai sse - a byte order mark before the first event is dropped', () => {
  assert.deepEqual(parse(['\ufeffdata: a\n\n']), [{ event: null, data: 'a' }]);
});
