// A request's token cost before it runs, for rate limits and fair shares: the prompt by its
// length (about four characters a token for English, OpenAI's rule of thumb) plus the most it
// may generate. Admission corrects the estimate with the real usage when the request ends.
import type { InferenceRequest } from '../../protocol/index.js';
import { promptText } from './prefix.js';

export interface EstimateOptions {
  /** Characters per prompt token. Default 4. */
  charsPerToken?: number;
  /** Completion tokens assumed when the request sets no limit. Default 256. */
  defaultMaxTokens?: number;
}

export function estimateTokens(request: InferenceRequest, options: EstimateOptions = {}): number {
  const charsPerToken = options.charsPerToken ?? 4;
  const prompt = Math.ceil(promptText(request).length / charsPerToken);
  const completion =
    request.max_completion_tokens ?? request.max_tokens ?? options.defaultMaxTokens ?? 256;
  return prompt + completion * (request.n ?? 1);
}
