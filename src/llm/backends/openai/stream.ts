// The JSON chunks of an upstream's SSE answer, as the SDK's stream reads them (an `error` object
// in a chunk is thrown as its APIError; `data: [DONE]` ends the answer), but in one pass over
// the body and handed on a read at a time rather than a chunk at a time.
import type { IncomingMessage } from 'node:http';
import { APIError } from 'openai';
import { toHeaders } from './http.js';
import { SseParser, type SseEvent } from './sse.js';

type Json = Record<string, unknown>;

/** Each body read's chunks; a read that completes no event yields nothing. */
export async function* sseChunks(res: IncomingMessage): AsyncGenerator<Json[]> {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let ended = false;
  let done = false;
  try {
    const reads = res as AsyncIterable<Buffer>;
    for await (const read of reads) {
      // What follows [DONE] is read to the end, as the SDK does, and dropped.
      if (ended) continue;
      parser.push(read, events);
      ended = yield* chunksOf(events, res);
    }
    done = true;
    if (!ended) {
      parser.end(events);
      yield* chunksOf(events, res);
    }
  } finally {
    // Left early (the caller stopped, or a chunk was bad): the rest of the body is not wanted.
    if (!done) res.destroy();
  }
}

/**
 * Hands on the parsed chunks of `events` (and empties it); true at `data: [DONE]`. A chunk that
 * is not JSON or carries an `error` is thrown, after the chunks before it are handed on.
 */
async function* chunksOf(
  events: SseEvent[],
  res: IncomingMessage,
): AsyncGenerator<Json[], boolean> {
  const chunks: Json[] = [];
  let ended = false;
  let failure: Error | undefined;
  for (const e of events) {
    if (e.data.startsWith('[DONE]')) {
      ended = true;
      break;
    }
    // Assistants' `thread.*` events are not part of the chat or completions APIs.
    if (e.event !== null && e.event.startsWith('thread.')) continue;
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch (err) {
      failure = err instanceof Error ? err : new SyntaxError(String(err));
      break;
    }
    if (typeof data !== 'object' || data === null) continue;
    const error = (data as Json)['error'];
    if (error) {
      failure = new APIError(undefined, error, undefined, toHeaders(res));
      break;
    }
    chunks.push(data as Json);
  }
  events.length = 0;
  if (chunks.length > 0) yield chunks;
  if (failure !== undefined) throw failure;
  return ended;
}
