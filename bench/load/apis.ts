// The HTTP APIs the gateway serves on its one inference path, as the load generator speaks them:
// the request body each takes, and the bytes that mark a text delta and the end of its stream.
// Deltas are found by a marker rather than by parsing each event's JSON, so the client stays
// cheap and costs the same per token whichever API it reads.

export type ApiName = 'chat' | 'responses' | 'messages';

export interface ApiRequest {
  prompt: string;
  maxTokens: number;
  stream: boolean;
  /** Responses only: keep the response in the gateway's record store (the API's default). */
  store?: boolean;
}

export interface Api {
  readonly path: string;
  body(request: ApiRequest): string;
  /** Bytes found once in each event that carries a text delta, and in no other event. */
  readonly delta: Buffer;
  /** Bytes of the events that end a stream that succeeded; any one of them. */
  readonly end: readonly Buffer[];
}

export const APIS: Readonly<Record<ApiName, Api>> = {
  // OpenAI chat completions: `data: {chunk}` events, text in `choices[0].delta.content`; the
  // role chunk ("delta":{"role":...) and the finish chunk do not match the marker.
  chat: {
    path: '/v1/chat/completions',
    body: (r) =>
      JSON.stringify({
        model: 'sim',
        messages: [{ role: 'user', content: r.prompt }],
        max_tokens: r.maxTokens,
        stream: r.stream,
      }),
    delta: Buffer.from('"delta":{"content":'),
    end: [Buffer.from('data: [DONE]\n\n')],
  },
  // OpenAI Responses: typed events, text in `response.output_text.delta` events' `delta`; a
  // stream ends with `response.completed`, or `response.incomplete` when the sim runs to
  // `max_output_tokens`.
  responses: {
    path: '/v1/responses',
    body: (r) =>
      JSON.stringify({
        model: 'sim',
        input: r.prompt,
        max_output_tokens: r.maxTokens,
        stream: r.stream,
        store: r.store ?? false,
      }),
    delta: Buffer.from('event: response.output_text.delta\n'),
    end: [Buffer.from('event: response.completed\n'), Buffer.from('event: response.incomplete\n')],
  },
  // Anthropic Messages: `content_block_delta` events whose `delta.type` is `text_delta`
  // (tool input arrives as `input_json_delta`); a stream ends with `message_stop`.
  messages: {
    path: '/v1/messages',
    body: (r) =>
      JSON.stringify({
        model: 'sim',
        messages: [{ role: 'user', content: r.prompt }],
        max_tokens: r.maxTokens,
        stream: r.stream,
      }),
    delta: Buffer.from('"delta":{"type":"text_delta"'),
    end: [Buffer.from('event: message_stop\n')],
  },
};
