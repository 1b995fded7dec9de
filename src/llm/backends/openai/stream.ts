// The JSON chunks of an upstream's SSE answer, as the SDK's stream reads them (an `error` object
// in a chunk is thrown as its APIError; `data: [DONE]` ends the answer), but in one pass over
// the body and handed on a read at a time rather than a chunk at a time.
import { APIError } from 'openai';
import { SseParser, type SseEvent } from './sse.js';

type Json = Record<string, unknown>;

/** Each body read's chunks; a read that completes no event yields nothing. */
export async function* sseChunks(response: Response): AsyncGenerator<Json[]> {
  const body = response.body;
  if (body === null) return;
  const reader = body.getReader();
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let ended = false;
  let done = false;
  try {
    while (!done) {
      const step = await reader.read();
      done = step.done;
      // What follows [DONE] is read to the end, as the SDK does, and dropped.
      if (ended) continue;
      if (step.done) parser.end(events);
      else parser.push(step.value, events);
      if (events.length > 0) {
        const chunks: Json[] = [];
        for (const e of events) {
          if (e.data.startsWith('[DONE]')) {
            ended = true;
            break;
          }
          // Assistants' `thread.*` events are not part of the chat or completions APIs.
          if (e.event !== null && e.event.startsWith('thread.')) continue;
          let data: Json | null;
          try {
            data = JSON.parse(e.data) as Json | null;
          } catch (err) {
            if (chunks.length > 0) yield chunks;
            throw err;
          }
          if (data !== null && typeof data === 'object' && data['error']) {
            // The chunks before it are the text so far: they go out first.
            if (chunks.length > 0) yield chunks;
            throw new APIError(undefined, data['error'], undefined, response.headers);
          }
          if (data !== null && typeof data === 'object') chunks.push(data);
        }
        events.length = 0;
        if (chunks.length > 0) yield chunks;
      }
    }
  } finally {
    // Left early (the caller stopped, or a chunk was bad): the rest of the body is not wanted.
    if (!done) await reader.cancel().catch(() => {});
  }
}
