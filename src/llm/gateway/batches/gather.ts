// Gathers a batch's outcomes into its output file (the answers) and error file (the errors),
// one line per request in input order, each line once. The files' ids are derived from the
// batch id, so a gather run again (the gateway died half way) writes the same files again.
import { createHash } from 'node:crypto';
import type { WireErrorBody } from '../../../protocol/index.js';
import type { FileStore } from './file-store.js';
import type { BatchLine } from './jsonl.js';
import type { BatchJson, StoredBatch, StoredResult } from './store.js';

/** A batch's output or error file id. */
export function resultFileId(batchId: string, which: 'output' | 'error'): string {
  return `file-${createHash('sha256').update(`${batchId}:${which}`).digest('hex').slice(0, 24)}`;
}

/** What became of one line: its result, or why it has none. */
export type Outcome = { ok: true; value: StoredResult } | { ok: false; error: WireErrorBody };

/** The line to write for an outcome, or undefined to write none. */
export type ResultOf = (
  line: BatchLine,
  index: number,
  outcome: Outcome,
) => StoredResult | undefined;

export async function gather(
  files: FileStore,
  stored: StoredBatch,
  resultOf: ResultOf,
  lines: () => AsyncIterable<BatchLine>,
  outcomes: () => AsyncIterable<Outcome>,
): Promise<Partial<BatchJson>> {
  const id = stored.batch.id;
  const counts = { completed: 0, failed: 0 };
  const usage = { prompt: 0, completion: 0, cached: 0, reasoning: 0 };
  async function* pass(ok: boolean): AsyncGenerator<Uint8Array> {
    const results = outcomes()[Symbol.asyncIterator]();
    let index = -1;
    for await (const line of lines()) {
      index += 1;
      const next = await results.next();
      if (next.done === true) break;
      const result = resultOf(line, index, next.value);
      if (result === undefined || result.ok !== ok) continue;
      if (ok) {
        counts.completed += 1;
        usage.prompt += result.usage?.prompt ?? 0;
        usage.completion += result.usage?.completion ?? 0;
        usage.cached += result.usage?.cached ?? 0;
        usage.reasoning += result.usage?.reasoning ?? 0;
      } else counts.failed += 1;
      yield Buffer.from(`${result.line}\n`);
    }
    await results.return?.();
  }
  const out: Partial<BatchJson> = { output_file_id: null, error_file_id: null };
  for (const ok of [true, false]) {
    const fileId = resultFileId(id, ok ? 'output' : 'error');
    const file = await files.put(stored.tenant, fileId, pass(ok), {
      filename: `${id}_${ok ? 'output' : 'error'}.jsonl`,
      purpose: 'batch_output',
    });
    // OpenAI names a file only when it has lines.
    if (file.bytes === 0) await files.discard(stored.tenant, fileId);
    else if (ok) out.output_file_id = fileId;
    else out.error_file_id = fileId;
  }
  out.request_counts = { total: stored.batch.request_counts.total, ...counts };
  out.usage = {
    input_tokens: usage.prompt,
    input_tokens_details: { cached_tokens: usage.cached },
    output_tokens: usage.completion,
    output_tokens_details: { reasoning_tokens: usage.reasoning },
    total_tokens: usage.prompt + usage.completion,
  };
  return out;
}
