// The JSON chunks of an upstream's SSE answer, as the SDK's stream reads them (an `error` object
// in a chunk is thrown as its APIError; `data: [DONE]` ends the answer), but in one pass over
// the body and handed on a read at a time rather than a chunk at a time.
import type { IncomingMessage } from 'node:http';
import { APIError } from 'openai';
import { toHeaders } from './http.js';
import { SseParser, type SseEvent } from './sse.js';

type Json = Record<string, unknown>;

/** What the events of one read held. */
interface Batch {
  chunks: Json[];
  /** `data: [DONE]` was among them. */
  ended: boolean;
  /** A chunk that is not JSON or carries an `error`: thrown after the chunks before it. */
  failure: Error | undefined;
}

/** Each body read's chunks; a read that completes no event yields nothing. */
export async function* sseChunks(res: IncomingMessage): AsyncGenerator<Json[]> {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let ended = false;
  let done = false;
  try {
    for await (const read of res as AsyncIterable<Buffer>) {
      // What follows [DONE] is read to the end, as the SDK does, and dropped.
      if (ended) continue;
      parser.push(read, events);
      if (events.length === 0) continue;
      const batch = chunksOf(events, res);
      ended = batch.ended;
      if (batch.chunks.length > 0) yield batch.chunks;
      if (batch.failure !== undefined) throw batch.failure;
    }
    done = true;
    if (!ended) {
      parser.end(events);
      const batch = chunksOf(events, res);
      if (batch.chunks.length > 0) yield batch.chunks;
      if (batch.failure !== undefined) throw batch.failure;
    }
  } finally {
    // Left early (the caller stopped, or a chunk was bad): the rest of the body is not wanted.
    if (!done) res.destroy();
  }
}

/** The parsed chunks of `events`, which it empties. */
function chunksOf(events: SseEvent[], res: IncomingMessage): Batch {
  const batch: Batch = { chunks: [], ended: false, failure: undefined };
  for (const e of events) {
    if (e.data.startsWith('[DONE]')) {
      batch.ended = true;
      break;
    }
    // Assistants' `thread.*` events are not part of the chat or completions APIs.
    if (e.event !== null && e.event.startsWith('thread.')) continue;
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch (err) {
      batch.failure = err instanceof Error ? err : new SyntaxError(String(err));
      break;
    }
    if (typeof data !== 'object' || data === null) continue;
    const error = (data as Json)['error'];
    if (error) {
      batch.failure = new APIError(undefined, error, undefined, toHeaders(res));
      break;
    }
    batch.chunks.push(data as Json);
  }
  events.length = 0;
  return batch;
}
