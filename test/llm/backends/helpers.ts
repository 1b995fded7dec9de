// Shared by the backend tests: drive a generation to its end and keep what it produced.
import type { Backend, GenerateEnd } from '../../../src/llm/backends/backend.js';
import type { InferenceRequest } from '../../../src/protocol/index.js';

export interface Run {
  deltas: string[];
  text: string;
  end: GenerateEnd;
}

export async function run(
  backend: Backend,
  request: InferenceRequest,
  signal: AbortSignal = new AbortController().signal,
): Promise<Run> {
  const stream = backend.generate(request, { signal });
  const deltas: string[] = [];
  for (let step = await stream.next(); ; step = await stream.next()) {
    if (step.done === true) return { deltas, text: deltas.join(''), end: step.value };
    deltas.push(step.value.text);
  }
}

/** What `promise` rejects with; fails when it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
