// Stored responses (`store: true`, the API's default): each response with its tenant, its own
// turn of the conversation (this turn's input and its answer, as chat messages) and the id of
// the response it continues, kept in a record store (the bus's durable store: the SQLite journal
// on the embedded default, a JetStream KV bucket on NATS, Redis keys on Redis). A later request
// rebuilds the conversation by walking `previous_response_id` back. A record is only ever shown
// to the tenant that made it: to any other it does not exist.
import { InvalidMessageError, NotFoundError, type ChatMessage } from '../../../protocol/index.js';
import { processRecordStore } from '../../../transport/memory/records.js';
import type { RecordStore } from '../../../transport/records.js';
import type { ResponseJson } from './output.js';
import type { InputItem } from './schema.js';

/** The record store responses live in (a transport's `records('responses')`). */
export type ResponseRecords = Pick<RecordStore, 'put' | 'get' | 'delete'>;

export interface StoredResponse {
  tenant: string;
  response: ResponseJson;
  /** This turn's input items, as sent (ids added). */
  input: InputItem[];
  /** This turn's input and, once finished, its answer, as chat messages. */
  turn: ChatMessage[];
}

/** How long a stored response is kept, as OpenAI keeps them: 30 days. */
export const RESPONSE_TTL_MS = 30 * 24 * 3600 * 1000;

/** The record store responses live in: one per namespace, shared by the gateways in it. */
export function responseStoreName(namespace?: string): string {
  return namespace === undefined ? 'responses' : `${namespace}-responses`;
}

/** Most responses one conversation chains before the oldest is no longer followed. */
export const MAX_CHAIN = 1000;
const ID_RE = /^resp_[0-9a-f]{32}$/;

export class ResponseStore {
  constructor(private readonly records: ResponseRecords) {}

  async put(stored: StoredResponse): Promise<void> {
    await this.records.put(stored.response.id, Buffer.from(JSON.stringify(stored)));
  }

  /** The response if it exists and belongs to `tenant`; NotFoundError otherwise. */
  async get(id: string, tenant: string, param = 'response_id'): Promise<StoredResponse> {
    const found = ID_RE.test(id) ? await this.records.get(id) : undefined;
    const stored =
      found === undefined
        ? undefined
        : (JSON.parse(Buffer.from(found).toString('utf8')) as StoredResponse);
    if (stored === undefined || stored.tenant !== tenant) {
      throw new NotFoundError(`no response '${id.slice(0, 128)}'`, { details: { param } });
    }
    return stored;
  }

  async delete(id: string, tenant: string): Promise<void> {
    await this.get(id, tenant);
    await this.records.delete(id);
  }

  /** The conversation up to and including response `id`, oldest first. */
  async conversation(id: string, tenant: string): Promise<ChatMessage[]> {
    const turns: ChatMessage[][] = [];
    let next: string | null = id;
    while (next !== null) {
      if (turns.length === MAX_CHAIN) {
        throw new InvalidMessageError(
          `previous_response_id chains more than ${MAX_CHAIN} responses; start a new conversation with the context as input`,
          { details: { param: 'previous_response_id' } },
        );
      }
      const stored: StoredResponse = await this.get(next, tenant, 'previous_response_id');
      if (stored.response.status !== 'completed' && stored.response.status !== 'incomplete') {
        throw new InvalidMessageError(
          `response '${next}' is ${stored.response.status}; only a finished response can be continued`,
          { details: { param: 'previous_response_id' } },
        );
      }
      turns.push(stored.turn);
      next = (stored.response.previous_response_id as string | null) ?? null;
    }
    return turns.reverse().flat();
  }
}

/** Responses kept in this process only: for a gateway given no store (tests, a library use). */
export function processResponseRecords(namespace?: string): ResponseRecords {
  return processRecordStore(responseStoreName(namespace), { ttlMs: RESPONSE_TTL_MS });
}
