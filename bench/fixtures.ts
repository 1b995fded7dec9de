// Messages the groups measure with: a chat request whose JSON frame is 1 KiB, a streamed token
// chunk whose body is 24 bytes of JSON, and the bodies a producer would send.
import { createEnvelope, type Envelope } from '../src/protocol/index.js';
import type { InferenceChunk, InferenceRequest } from '../src/protocol/index.js';

export const REQUEST_FRAME_BYTES = 1024;
export const CHUNK_BODY_BYTES = 24;

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const PROSE =
  'Summarise the following customer review in two sentences and classify its sentiment as ' +
  'positive, negative or mixed. The review: I ordered the blue kettle on Monday and it arrived ' +
  'on Thursday, well packed. It boils quickly and quietly, but the lid hinge feels flimsy and ' +
  'the handle gets warm. Customer service answered my question about the warranty within an ' +
  'hour, which I appreciated. Overall I would buy it again, though I hope the next version ' +
  'fixes the lid. Also list any product defects mentioned, one per line, with no commentary. ';

function requestEnvelope(userText: string): Envelope<InferenceRequest> {
  return createEnvelope<InferenceRequest>({
    kind: 'inference.request',
    subject: 'llm.infer.llama-3-8b-instruct',
    source: 'gateway-1',
    replyTo: '_INBOX.k2B9xq1LmZpT',
    deadline: Date.now() + 60_000,
    prio: 5,
    tenant: 'acme',
    traceparent: TRACEPARENT,
    body: {
      model: 'llama-3-8b-instruct',
      messages: [
        { role: 'system', content: 'You are a concise assistant for a retail support team.' },
        { role: 'user', content: userText },
      ],
      temperature: 0.2,
      max_tokens: 256,
      stream: true,
    },
  });
}

/** An `inference.request` envelope whose JSON frame is exactly REQUEST_FRAME_BYTES long. */
export function makeRequest(): Envelope<InferenceRequest> {
  const bare = Buffer.byteLength(JSON.stringify(requestEnvelope('')));
  const room = REQUEST_FRAME_BYTES - bare;
  if (room <= 0) throw new Error('request fixture header alone exceeds the frame size');
  const text = PROSE.repeat(Math.ceil(room / PROSE.length)).slice(0, room);
  return requestEnvelope(text);
}

/** An `inference.chunk` envelope as a worker streams it: body JSON is CHUNK_BODY_BYTES long. */
export function makeChunk(seq = 1, text = ' of the city,'): Envelope<InferenceChunk> {
  const env = createEnvelope<InferenceChunk>({
    kind: 'inference.chunk',
    subject: '_INBOX.k2B9xq1LmZpT',
    source: 'worker-7',
    corr: '01936b2e-6f7a-7c3d-8e4f-5a6b7c8d9e0f',
    seq,
    body: { text },
  });
  if (Buffer.byteLength(JSON.stringify(env.body)) !== CHUNK_BODY_BYTES) {
    throw new Error('chunk fixture body must be 24 bytes of JSON');
  }
  return env;
}

const WORDS = [
  ' of the',
  ' city, ',
  ' and it',
  ' was a ',
  ' quiet ',
  ' night.',
  ' Then, ',
  ' rain.',
];

/** 64 distinct chunk bodies (7-character texts, as a tokenizer would produce). */
export function chunkBodies(): InferenceChunk[] {
  return Array.from({ length: 64 }, (_, i) => ({ text: WORDS[i % WORDS.length]!, index: 0 }));
}

/** A body whose JSON is exactly `bytes` long: what a pipeline stage queues (text to classify). */
export function textBody(bytes: number, i = 0): { text: string } {
  const room = bytes - Buffer.byteLength(JSON.stringify({ text: '' }));
  const text = `${i}:${PROSE.repeat(Math.ceil(room / PROSE.length))}`.slice(0, room);
  return { text };
}
