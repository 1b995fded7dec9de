// `llmwire send`: a request from the terminal through the gateway, printed as it streams, in
// any of the APIs the gateway speaks: chat completions (the default), Responses, or Anthropic
// Messages (through the official @anthropic-ai/sdk, an optional package).
import OpenAI, { APIConnectionError, APIError } from 'openai';
import type AnthropicClient from '@anthropic-ai/sdk';
import { ConfigError, LocalError } from '../protocol/index.js';
import { parseWithPositionals, type Options } from './args.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';
import { needPackages } from './packages.js';

export const SEND_HELP = `Usage: llmwire send [options] PROMPT...

Sends one request to the gateway and prints the answer as it streams.

Options (each also as an environment variable, e.g. LLMWIRE_URL):
  --api API         chat (default: /v1/chat/completions), responses (/v1/responses) or
                    messages (Anthropic's /v1/messages; needs npm install @anthropic-ai/sdk)
  --url URL         gateway base URL (default http://127.0.0.1:8787/v1)
  --key KEY         API key (default none, or LLMWIRE_KEY)
  --model NAME      model (default sim)
  --system TEXT     a system message
  --max-tokens N    most tokens to generate (messages: default 1024, the API requires it)
  --no-stream       wait for the whole answer instead of streaming
  -h, --help        show this help
`;

const OPTIONS: Options = {
  api: { type: 'string' },
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
    if (isAnthropicConnectionError(err)) {
      throw new UnreachableError(
        `cannot reach the gateway at ${maskCredentials(baseUrl(args))}: ${err.message}; is 'llmwire up' or 'llmwire gateway' running there?`,
        { cause: err },
      );
    }
    if (err instanceof APIError || isAnthropicApiError(err)) {
      const body = err.error as { message?: string; error?: { type?: string; message?: string } };
      const code =
        err instanceof APIError && typeof err.code === 'string'
          ? err.code
          : (body?.error?.type ?? `http_${String(err.status ?? 'error')}`);
      const message = body?.message ?? body?.error?.message ?? err.message;
      throw new LocalError(
        code,
        `gateway answered ${String(err.status ?? 'an error')}: ${message}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** The Anthropic SDK's errors, recognised without loading it (it is optional). */
function isAnthropicApiError(
  err: unknown,
): err is Error & { status: number | undefined; error: unknown } {
  return (
    err instanceof Error &&
    err.constructor.name.endsWith('Error') &&
    'status' in err &&
    'error' in err &&
    'requestID' in err
  );
}

function isAnthropicConnectionError(err: unknown): err is Error {
  return err instanceof Error && err.constructor.name === 'APIConnectionError';
}

const APIS = ['chat', 'responses', 'messages'] as const;
type Api = (typeof APIS)[number];

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
  const api = (typeof flags.api === 'string' ? flags.api : 'chat') as Api;
  if (!APIS.includes(api)) {
    throw new ConfigError(`--api must be ${APIS.join(', ')}; got '${String(flags.api)}'`);
  }
  const request: SendRequest = {
    baseURL: baseUrl(args),
    apiKey: typeof flags.key === 'string' ? flags.key : 'none',
    model: typeof flags.model === 'string' ? flags.model : 'sim',
    prompt,
    system: typeof flags.system === 'string' ? flags.system : undefined,
    maxTokens,
    stream: flags['no-stream'] !== true,
  };
  const usage = await SENDERS[api](request, (text) => process.stdout.write(text), out);
  if (usage !== undefined) {
    process.stderr.write(`[${usage.input} prompt + ${usage.output} completion tokens]\n`);
  }
  return 0;
}

interface SendRequest {
  baseURL: string;
  apiKey: string;
  model: string;
  prompt: string;
  system: string | undefined;
  maxTokens: number | undefined;
  stream: boolean;
}

type Usage = { input: number; output: number } | undefined;
type Sender = (
  r: SendRequest,
  write: (text: string) => void,
  out: (line: string) => void,
) => Promise<Usage>;

function openai(r: SendRequest): OpenAI {
  return new OpenAI({ baseURL: r.baseURL, apiKey: r.apiKey, maxRetries: 0 });
}

const SENDERS: Record<Api, Sender> = {
  async chat(r, write, out) {
    const messages: OpenAI.ChatCompletionMessageParam[] = [];
    if (r.system !== undefined) messages.push({ role: 'system', content: r.system });
    messages.push({ role: 'user', content: r.prompt });
    const base = {
      model: r.model,
      messages,
      ...(r.maxTokens === undefined ? {} : { max_tokens: r.maxTokens }),
    };
    if (!r.stream) {
      const answer = await openai(r).chat.completions.create(base);
      out(answer.choices[0]?.message.content ?? '');
      return undefined;
    }
    const stream = await openai(r).chat.completions.create({
      ...base,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: Usage;
    for await (const chunk of stream) {
      write(chunk.choices[0]?.delta.content ?? '');
      if (chunk.usage) {
        usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
      }
    }
    out('');
    return usage;
  },

  async responses(r, write, out) {
    const base = {
      model: r.model,
      input: r.prompt,
      store: false,
      ...(r.system === undefined ? {} : { instructions: r.system }),
      ...(r.maxTokens === undefined ? {} : { max_output_tokens: r.maxTokens }),
    };
    if (!r.stream) {
      out((await openai(r).responses.create(base)).output_text);
      return undefined;
    }
    let usage: Usage;
    for await (const ev of await openai(r).responses.create({ ...base, stream: true })) {
      if (ev.type === 'response.output_text.delta') write(ev.delta);
      if (ev.type === 'response.completed' || ev.type === 'response.incomplete') {
        const u = ev.response.usage;
        if (u) usage = { input: u.input_tokens, output: u.output_tokens };
      }
      if (ev.type === 'response.failed') {
        throw new LocalError(
          ev.response.error?.code ?? 'failed',
          `the response failed: ${ev.response.error?.message ?? 'no reason given'}`,
        );
      }
    }
    out('');
    return usage;
  },

  async messages(r, write, out) {
    needPackages('llmwire send --api messages', '@anthropic-ai/sdk');
    const { default: Anthropic } = (await import('@anthropic-ai/sdk')) as {
      default: typeof AnthropicClient;
    };
    // The Anthropic SDK adds /v1 itself.
    const client = new Anthropic({
      baseURL: r.baseURL.replace(/\/v1\/?$/, ''),
      apiKey: r.apiKey,
      maxRetries: 0,
    });
    const base = {
      model: r.model,
      max_tokens: r.maxTokens ?? 1024,
      messages: [{ role: 'user' as const, content: r.prompt }],
      ...(r.system === undefined ? {} : { system: r.system }),
    };
    if (!r.stream) {
      const message = await client.messages.create(base);
      out(message.content.map((b) => (b.type === 'text' ? b.text : '')).join(''));
      return undefined;
    }
    const stream = client.messages.stream(base);
    stream.on('text', (text) => write(text));
    const message = await stream.finalMessage();
    out('');
    return { input: message.usage.input_tokens, output: message.usage.output_tokens };
  },
};
