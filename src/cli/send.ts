// `llmwire send`: a chat request from the terminal through the gateway, printed as it streams.
import OpenAI, { APIConnectionError, APIError } from 'openai';
import { ConfigError, LocalError } from '../protocol/index.js';
import { parseWithPositionals, type Options } from './args.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';

export const SEND_HELP = `Usage: llmwire send [options] PROMPT...

Sends one chat request to the gateway and prints the answer as it streams.

Options (each also as an environment variable, e.g. LLMWIRE_URL):
  --url URL         gateway base URL (default http://127.0.0.1:8787/v1)
  --key KEY         API key (default none, or LLMWIRE_KEY)
  --model NAME      model (default sim)
  --system TEXT     a system message
  --max-tokens N    most tokens to generate
  --no-stream       wait for the whole answer instead of streaming
  -h, --help        show this help
`;

const OPTIONS: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  model: { type: 'string' },
  system: { type: 'string' },
  'max-tokens': { type: 'string' },
  'no-stream': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export async function send(args: string[], out: (line: string) => void): Promise<number> {
  try {
    return await sendOnce(args, out);
  } catch (err) {
    // The gateway's answer is an outcome, not a crash: one line with its code.
    if (err instanceof APIConnectionError) {
      throw new UnreachableError(
        `cannot reach the gateway at ${maskCredentials(baseUrl(args))}: ${err.message}; is 'llmwire up' or 'llmwire gateway' running there?`,
        { cause: err },
      );
    }
    if (err instanceof APIError) {
      const code =
        typeof err.code === 'string' ? err.code : `http_${String(err.status ?? 'error')}`;
      const message = (err.error as { message?: string } | undefined)?.message ?? err.message;
      throw new LocalError(
        code,
        `gateway answered ${String(err.status ?? 'an error')}: ${message}`,
        { cause: err },
      );
    }
    throw err;
  }
}

function baseUrl(args: string[]): string {
  const { values } = parseWithPositionals('send', args, OPTIONS);
  return typeof values.url === 'string' ? values.url : 'http://127.0.0.1:8787/v1';
}

async function sendOnce(args: string[], out: (line: string) => void): Promise<number> {
  const { values: flags, positionals } = parseWithPositionals('send', args, OPTIONS);
  const prompt = positionals.join(' ');
  if (flags.help === true) {
    out(SEND_HELP);
    return 0;
  }
  if (prompt.trim() === '')
    throw new ConfigError("nothing to send: give a prompt, e.g. llmwire send 'hello'");
  let maxTokens: number | undefined;
  if (flags['max-tokens'] !== undefined) {
    maxTokens = Number(flags['max-tokens']);
    if (!Number.isInteger(maxTokens) || maxTokens < 1)
      throw new ConfigError('--max-tokens must be a positive integer');
  }
  const client = new OpenAI({
    baseURL: baseUrl(args),
    apiKey: typeof flags.key === 'string' ? flags.key : 'none',
    maxRetries: 0,
  });
  const messages: OpenAI.ChatCompletionMessageParam[] = [];
  if (typeof flags.system === 'string') messages.push({ role: 'system', content: flags.system });
  messages.push({ role: 'user', content: prompt });
  const model = typeof flags.model === 'string' ? flags.model : 'sim';
  const base = { model, messages, ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }) };
  if (flags['no-stream'] === true) {
    const answer = await client.chat.completions.create(base);
    out(answer.choices[0]?.message.content ?? '');
    return 0;
  }
  const stream = await client.chat.completions.create({
    ...base,
    stream: true,
    stream_options: { include_usage: true },
  });
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    process.stdout.write(chunk.choices[0]?.delta.content ?? '');
    if (chunk.usage) usage = chunk.usage;
  }
  out('');
  if (usage)
    process.stderr.write(
      `[${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens]\n`,
    );
  return 0;
}
