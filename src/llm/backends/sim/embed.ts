// The simulator's embeddings: a deterministic unit vector per input, from a generator seeded by
// the model and the input. A shorter vector is the renormalised start of a longer one, as with
// OpenAI's `dimensions` parameter.
import type { EmbeddingRequest, EmbeddingResult } from '../../../protocol/index.js';
import { InvalidMessageError } from '../../../protocol/index.js';
import { MAX_EMBEDDING_DIMENSIONS } from './options.js';
import { SeededRandom } from './random.js';

export function simEmbeddings(
  request: EmbeddingRequest,
  defaultDimensions: number,
): EmbeddingResult {
  const dimensions = request.dimensions ?? defaultDimensions;
  if (dimensions > MAX_EMBEDDING_DIMENSIONS) {
    throw new InvalidMessageError(
      `dimensions must be at most ${MAX_EMBEDDING_DIMENSIONS}, got ${dimensions}`,
    );
  }
  const inputs = embeddingInputs(request.input);
  let promptTokens = 0;
  const data = inputs.map((input, index) => {
    promptTokens += input.tokens;
    const vector = unitVector(request.model, input.key, dimensions);
    const embedding =
      request.encoding_format === 'base64'
        ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
        : vector;
    return { index, embedding };
  });
  return {
    model: request.model,
    data,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

interface Input {
  key: string;
  tokens: number;
}

/** The inputs of a request: one string, strings, one token array, or token arrays. */
function embeddingInputs(input: EmbeddingRequest['input']): Input[] {
  if (typeof input === 'string') return [textInput(input)];
  const items = input as readonly (string | number | readonly number[])[];
  if (items.every((item) => typeof item === 'number')) return [tokenInput(items)];
  return items.map((item) =>
    typeof item === 'string'
      ? textInput(item)
      : tokenInput(Array.isArray(item) ? (item as number[]) : [item as number]),
  );
}

function textInput(text: string): Input {
  return { key: `text:${text}`, tokens: Math.ceil(text.length / 4) };
}

function tokenInput(tokens: readonly number[]): Input {
  return { key: `tokens:${tokens.join(',')}`, tokens: tokens.length };
}

function unitVector(model: string, key: string, dimensions: number): number[] {
  const random = new SeededRandom('embedding', model, key);
  const vector = Array.from({ length: dimensions }, () => random.next() * 2 - 1);
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0)) || 1;
  return vector.map((v) => v / norm);
}
