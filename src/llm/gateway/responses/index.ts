// The OpenAI Responses API: `POST /v1/responses` (whole, streamed or in the background),
// `GET`/`DELETE /v1/responses/{id}`, `POST /v1/responses/{id}/cancel` and
// `GET /v1/responses/{id}/input_items`. A response is one `inference.request` through the
// gateway's one path (admission, routing, failover, cancellation); what the API adds is its
// shape, stored responses and chaining (store.ts). Clients and operators may use it; a response
// is visible only to the tenant that made it.
import {
  toWireError,
  CancelledError,
  InvalidMessageError,
  UnavailableError,
  type InferenceRequest,
  type InferenceResult,
} from '../../../protocol/index.js';
import type { Bus, Subscription } from '../../../bus/index.js';
import type { CallOptions } from '../dispatch.js';
import type { ApiFace } from '../face.js';
import { readJson, sendJson, type Ctx } from '../http.js';
import { bodyChecker } from '../body.js';
import { answerMessage, inputItems, itemsToMessages } from './input.js';
import { newId, outputItems, ResponseShape, ResponsesStream, type ResponseJson } from './output.js';
import { checkServed, inferenceRequest } from './request.js';
import { ResponseCreateSchema, type InputItem } from './schema.js';
import { ResponseStore, type ResponseRecords } from './store.js';
import type { TokenDelta } from '../../backends/backend.js';

export { processResponseRecords, type ResponseRecords } from './store.js';

const checkCreate = bodyChecker(ResponseCreateSchema);

/** What the API needs from the gateway: its one inference path. */
export interface ResponsesHost {
  prepare(ctx: Ctx, request: InferenceRequest, endpoint: string): CallOptions;
  run(
    ctx: Ctx,
    request: InferenceRequest,
    call: CallOptions,
  ): AsyncGenerator<TokenDelta[], InferenceResult>;
  answer(ctx: Ctx, request: InferenceRequest, call: CallOptions, face: ApiFace): Promise<void>;
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

/** How long a cancel waits for the gateway running a background response to stop it. */
const REMOTE_CANCEL_MS = 5000;

export class ResponsesApi {
  private readonly store: ResponseStore;
  /** Background responses running on this gateway, by id. */
  private readonly running = new Map<string, Running>();
  private cancels: Subscription | undefined;

  constructor(
    private readonly host: ResponsesHost,
    records: ResponseRecords,
    private readonly bodyLimitBytes: number,
    /** The bus and the subject gateways hear cancels of background responses on. */
    private readonly bus: Bus,
    private readonly cancelSubject: string,
  ) {
    this.store = new ResponseStore(records);
  }

  /**
   * Listens for cancels from the other gateways of the bus: a background response runs on the
   * gateway that accepted it, and a cancel may reach any of them. Only gateways (and operators)
   * may publish on the subject; the one that publishes has checked the caller's tenant.
   */
  async start(): Promise<void> {
    this.cancels = this.bus.subscribe<{ id?: unknown }>(this.cancelSubject, (msg) => {
      const id = msg.body?.id;
      if (typeof id === 'string') {
        this.running.get(id)?.abort.abort(new CancelledError('response cancelled'));
      }
    });
    await this.cancels.ready;
  }

  async create(ctx: Ctx): Promise<void> {
    const create = checkCreate(await readJson(ctx, this.bodyLimitBytes));
    checkServed(create);
    // Input items get ids for the stored record, which lists them; unstored, none is made.
    const items = inputItems(create.input);
    const input = create.store === false && create.background !== true ? items : withIds(items);
    const turn = itemsToMessages(input);
    const tenant = ctx.tenant.name;
    const history =
      typeof create.previous_response_id === 'string'
        ? await this.store.conversation(create.previous_response_id, tenant)
        : [];
    const request = inferenceRequest(create, [...history, ...turn]);
    const call = this.host.prepare(ctx, request, 'responses');
    if (typeof create.prompt_cache_key === 'string') call.sessionKey = create.prompt_cache_key;
    const shape = new ResponseShape(newId('resp'), create);
    const save = async (response: ResponseJson, result?: InferenceResult) => {
      if (create.store === false) return;
      const answered = result === undefined ? turn : [...turn, answerMessage(result)];
      try {
        await this.store.put({ tenant, response, input, turn: answered });
      } catch (err) {
        // The answer still reaches the client; only later lookups of it will miss.
        ctx.obs.log.warn(
          { response: response.id, error: toWireError(err).code },
          'response not stored',
        );
      }
    };
    if (create.background === true) {
      const queued = shape.json('queued');
      await this.store.put({ tenant, response: queued, input, turn });
      this.background(ctx, request, call, shape, save);
      sendJson(ctx, 200, queued);
      return;
    }
    await this.host.answer(ctx, request, call, {
      whole: async (result) => {
        const response = shape.finished(result, outputItems(shape, result));
        await save(response, result);
        return response;
      },
      stream: (sse) => new ResponsesStream(sse, shape, save),
    });
  }

  /** Runs a background response to its end, keeping its state in the store as it goes. */
  private background(
    ctx: Ctx,
    request: InferenceRequest,
    call: CallOptions,
    shape: ResponseShape,
    save: (response: ResponseJson, result?: InferenceResult) => Promise<void>,
  ): void {
    const abort = new AbortController();
    // Not the HTTP request's: the client may go away; only a cancel (or close) stops it.
    const detached: Ctx = { ...ctx, signal: abort.signal };
    const run = async () => {
      try {
        await save(shape.json('in_progress'));
        const gen = this.host.run(detached, request, { ...call, signal: abort.signal });
        let step = await gen.next();
        while (step.done !== true) step = await gen.next();
        await save(shape.finished(step.value, outputItems(shape, step.value)), step.value);
      } catch (err) {
        await save(
          abort.signal.aborted
            ? shape.json('cancelled')
            : shape.json('failed', { error: toWireError(err) }),
        );
      } finally {
        this.running.delete(shape.id);
      }
    };
    this.running.set(shape.id, { abort, done: run() });
  }

  async retrieve(ctx: Ctx, id: string): Promise<void> {
    if (ctx.url.searchParams.get('stream') === 'true') {
      throw new InvalidMessageError(
        'streaming a stored response again is not served; poll it, or create it with stream: true',
        { details: { param: 'stream' } },
      );
    }
    sendJson(ctx, 200, (await this.store.get(id, ctx.tenant.name)).response);
  }

  async delete(ctx: Ctx, id: string): Promise<void> {
    // The caller's tenant is checked before anything is stopped.
    await this.store.get(id, ctx.tenant.name);
    const running = this.running.get(id);
    if (running !== undefined) {
      running.abort.abort(new CancelledError('response deleted'));
      // Its last state is stored as it stops; deleting after that keeps it deleted.
      await running.done;
    }
    await this.store.delete(id, ctx.tenant.name);
    sendJson(ctx, 200, { id, object: 'response', deleted: true });
  }

  async cancel(ctx: Ctx, id: string): Promise<void> {
    const stored = await this.store.get(id, ctx.tenant.name);
    if (stored.response.background !== true) {
      throw new InvalidMessageError('only a background response can be cancelled', {
        details: { param: 'response_id' },
      });
    }
    const running = this.running.get(id);
    if (running !== undefined) {
      running.abort.abort(new CancelledError('response cancelled'));
      await running.done;
    } else if (isRunning(stored.response.status)) {
      // Another gateway runs it: tell every gateway, and wait for the store to say it stopped.
      this.bus.publish(this.cancelSubject, { id }, { kind: 'event' });
      const until = Date.now() + REMOTE_CANCEL_MS;
      for (;;) {
        const now = await this.store.get(id, ctx.tenant.name);
        if (!isRunning(now.response.status)) break;
        if (Date.now() > until) {
          throw new UnavailableError(
            `response '${id}' is still ${now.response.status} ${REMOTE_CANCEL_MS} ms after the cancel: the gateway running it did not answer (it may have stopped)`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    sendJson(ctx, 200, (await this.store.get(id, ctx.tenant.name)).response);
  }

  async inputItems(ctx: Ctx, id: string): Promise<void> {
    const { input } = await this.store.get(id, ctx.tenant.name);
    const q = ctx.url.searchParams;
    const limit = Number(q.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new InvalidMessageError('limit must be an integer from 1 to 100', {
        details: { param: 'limit' },
      });
    }
    const order = q.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw new InvalidMessageError("order must be 'asc' or 'desc'", {
        details: { param: 'order' },
      });
    }
    const all = order === 'desc' ? [...input].reverse() : input;
    const after = q.get('after');
    const start = after === null ? 0 : all.findIndex((item) => item.id === after) + 1;
    const data = all.slice(start, start + limit);
    sendJson(ctx, 200, {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: start + limit < all.length,
    });
  }

  /** Stops background responses still running here: each is stored as cancelled. */
  async close(): Promise<void> {
    this.cancels?.unsubscribe();
    const running = [...this.running.values()];
    for (const r of running) r.abort.abort(new CancelledError('gateway closing'));
    await Promise.all(running.map((r) => r.done));
  }
}

function isRunning(status: string): boolean {
  return status === 'queued' || status === 'in_progress';
}

/**
 * Input items as OpenAI lists them: each with an id (`msg_`, `fc_`, ...) where the client sent
 * none, and a message's text content as a part.
 */
function withIds(items: InputItem[]): InputItem[] {
  const prefix: Record<string, string> = {
    message: 'msg',
    function_call: 'fc',
    function_call_output: 'fco',
    reasoning: 'rs',
  };
  return items.map((item) => {
    const id =
      typeof item.id === 'string' ? item.id : newId(prefix[item.type ?? 'message'] ?? 'item');
    if (item.type !== undefined && item.type !== 'message') return { ...item, id };
    const content =
      typeof item.content === 'string'
        ? [{ type: item.role === 'assistant' ? 'output_text' : 'input_text', text: item.content }]
        : item.content;
    return { ...item, type: 'message', id, content, status: item.status ?? 'completed' };
  });
}
