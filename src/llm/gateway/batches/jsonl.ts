// The batch input file: JSONL, one request a line (OpenAI "batch request input"): `custom_id`,
// `method` POST, `url` (the endpoint) and `body` (that endpoint's request). Checked line by line
// as the upload streams in, so a bad line is refused naming it before the file is kept.
import { InvalidMessageError, WireError, type InferenceRequest } from '../../../protocol/index.js';
import { parseChat, parseEmbedding } from '../openai.js';

/** Endpoints a batch may run. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/embeddings'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** Longest custom_id, as OpenAI takes them. */
export const MAX_CUSTOM_ID_CHARS = 512;

export interface BatchLine {
  custom_id: string;
  method: 'POST';
  url: BatchEndpoint;
  body: Record<string, unknown>;
}

export interface JsonlLimits {
  /** Most lines (requests) in one file. */
  maxLines: number;
  /** Longest line, in bytes. */
  maxLineBytes: number;
}

function lineError(line: number, message: string, param: string | null = null): WireError {
  return new InvalidMessageError(`line ${line}: ${message}`, { details: { line, param } });
}

/**
 * One line parsed and checked (its body against its endpoint's schema); InvalidMessageError
 * names the line (1-based) and the field.
 */
export function parseBatchLine(text: string, line: number): BatchLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw lineError(line, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw lineError(line, 'must be a JSON object with custom_id, method, url and body');
  }
  const v = value as Record<string, unknown>;
  const id = v.custom_id;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CUSTOM_ID_CHARS) {
    throw lineError(
      line,
      `custom_id must be a string of 1 to ${MAX_CUSTOM_ID_CHARS} characters`,
      'custom_id',
    );
  }
  if (v.method !== 'POST') throw lineError(line, "method must be 'POST'", 'method');
  if (!BATCH_ENDPOINTS.includes(v.url as BatchEndpoint)) {
    throw lineError(line, `url must be one of ${BATCH_ENDPOINTS.join(', ')}`, 'url');
  }
  const body = v.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw lineError(line, 'body must be a JSON object (the request)', 'body');
  }
  for (const key of Object.keys(v)) {
    if (!['custom_id', 'method', 'url', 'body'].includes(key)) {
      throw lineError(line, `unknown field '${key.slice(0, 64)}'`, key.slice(0, 64));
    }
  }
  try {
    toRequest(v.url as BatchEndpoint, body as Record<string, unknown>);
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    const param = typeof err.details?.param === 'string' ? `body.${err.details.param}` : 'body';
    throw lineError(line, err.message, param);
  }
  return v as unknown as BatchLine;
}

/** The request a line's body stands for, checked as its endpoint checks it. */
export function toRequest(
  url: BatchEndpoint,
  body: Record<string, unknown>,
): { chat: InferenceRequest } | { embed: ReturnType<typeof parseEmbedding> } {
  if (url === '/v1/embeddings') return { embed: parseEmbedding(body) };
  const chat = parseChat(body);
  if (chat.stream === true) {
    throw new InvalidMessageError('a batch request is answered whole: remove stream', {
      details: { param: 'stream' },
    });
  }
  return { chat };
}

/** What a checked file holds. */
export interface JsonlSummary {
  lines: number;
  urls: Set<string>;
}

/**
 * Checks JSONL as its bytes arrive: `push` each chunk, then `end`. Throws InvalidMessageError
 * naming the first bad line (1-based): bad JSON or UTF-8, a field missing or wrong, a
 * duplicate custom_id, an empty line before the end, or over the limits.
 */
export class JsonlChecker {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private line = 0;
  private blankAt = 0;
  private readonly ids = new Set<string>();
  readonly urls = new Set<string>();

  constructor(private readonly limits: JsonlLimits) {}

  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      this.take(chunk.subarray(start, nl));
      this.finishLine();
      start = nl + 1;
    }
    if (start < chunk.byteLength) this.take(chunk.subarray(start));
  }

  end(): JsonlSummary {
    if (this.pendingBytes > 0) this.finishLine();
    if (this.ids.size === 0) {
      throw new InvalidMessageError('the file has no requests: send one JSON request a line', {
        details: { param: 'file' },
      });
    }
    return { lines: this.ids.size, urls: this.urls };
  }

  private take(bytes: Uint8Array): void {
    this.pendingBytes += bytes.byteLength;
    if (this.pendingBytes > this.limits.maxLineBytes) {
      throw lineError(this.line + 1, `is longer than ${this.limits.maxLineBytes} bytes`, null);
    }
    this.pending.push(Buffer.from(bytes));
  }

  private finishLine(): void {
    this.line += 1;
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      throw lineError(this.line, 'is not valid UTF-8');
    }
    if (text.trim() === '') {
      if (this.blankAt === 0) this.blankAt = this.line;
      return;
    }
    if (this.blankAt !== 0) throw lineError(this.blankAt, 'is empty; one request a line');
    if (this.ids.size >= this.limits.maxLines) {
      throw lineError(this.line, `is past the limit of ${this.limits.maxLines} requests a file`);
    }
    const parsed = parseBatchLine(text, this.line);
    if (this.ids.has(parsed.custom_id)) {
      throw lineError(this.line, `custom_id '${parsed.custom_id}' is used twice`, 'custom_id');
    }
    this.ids.add(parsed.custom_id);
    this.urls.add(parsed.url);
  }
}

/** Splits a stream of byte chunks into lines of text (without the newline); blank ones skipped. */
export async function* jsonlLines(source: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  for await (const chunk of source) {
    const text = rest + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.trim() !== '') yield line;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest.trim() !== '') yield rest;
}
