// Prompt-prefix block hashes, shared by the router and by backends that model a prefix cache:
// the prompt text is cut into fixed-size blocks and each block's hash chains the one before
// it (as vLLM's automatic prefix caching does with token blocks), so equal hashes mean equal
// prefixes up to and including that block.
import { createHash } from 'node:crypto';
import type { InferenceRequest } from '../../protocol/index.js';

/** Characters per block. About 64 tokens of English text. */
export const PREFIX_BLOCK_CHARS = 256;

/** The text a model would see as its prompt, in a stable form. */
export function promptText(request: InferenceRequest): string {
  if (request.messages !== undefined) {
    let text = '';
    for (const m of request.messages) {
      const content =
        typeof m.content === 'string'
          ? m.content
          : m.content === null
            ? ''
            : m.content.map((p) => (p.type === 'text' ? p.text : `[${p.type}]`)).join('');
      text += `<|${m.role}|>${content}\n`;
    }
    return text;
  }
  const prompt = request.prompt;
  return Array.isArray(prompt) ? prompt.join('\n') : (prompt ?? '');
}

/** Chained hashes (16 hex chars each) of the prompt's full blocks, first block first. */
export function prefixBlockHashes(
  text: string,
  blockChars = PREFIX_BLOCK_CHARS,
  maxBlocks = 256,
): string[] {
  const hashes: string[] = [];
  let previous = '';
  for (
    let start = 0;
    start + blockChars <= text.length && hashes.length < maxBlocks;
    start += blockChars
  ) {
    previous = createHash('sha256')
      .update(previous)
      .update(text.slice(start, start + blockChars))
      .digest('hex')
      .slice(0, 16);
    hashes.push(previous);
  }
  return hashes;
}
