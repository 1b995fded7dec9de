// The rollout service: keeps the current rollout record of every model and adapter, takes new
// ones from operators (`llm.params.push`), answers `llm.params.list`, and announces each new
// record on `llm.params.rollouts` so workers fetch it and gateways route by it
// (docs/dataplane.md). It runs beside the hub (`llmwire up`) or in any process
// whose transport keeps records; the records stay there across restarts where that store is
// durable (sqlite, NATS, Redis).
import type { Bus } from '../../bus/index.js';
import type { Message } from '../../bus/message.js';
import type { Subscription } from '../../bus/subscription.js';
import {
  checkRolloutRecord,
  ForbiddenError,
  InvalidMessageError,
  NotFoundError,
  type RolloutRecord,
} from '../../protocol/index.js';
import type { RecordStore } from '../../transport/records.js';
import { llmSubjects, type LlmSubjects } from '../subjects.js';

export interface ParamsServiceOptions {
  bus: Bus;
  /** Where records are kept. Default: the transport's `params` record store, else memory. */
  records?: RecordStore;
  namespace?: string;
  /**
   * Who may push, by the `source` on the request. Default: every source but those a hub stamps
   * for clients, workers and observers (`client:*`, `worker:*`, `observer:*`); a hub stamps
   * every peer's source from its identity, so through a hub only operators pass. On a broker
   * (NATS), the users' permissions on `llm.params.push` decide.
   */
  mayPush?: (source: string | undefined) => boolean;
}

/** The body of a push, list reply and rollout announcement (an `event`). */
export interface ParamsEvent {
  type: 'params.push' | 'params.rollout' | 'params.list';
  data?: unknown;
}

const INDEX_KEY = 'rollouts';

/** A record's key: the model and adapter it rolls out. */
export function rolloutKey(r: { model: string; adapter?: string | undefined }): string {
  return `${r.model}@${r.adapter ?? ''}`;
}

/** A store of plain bytes in memory, for a transport that keeps no records. */
function memoryRecords(): RecordStore {
  const map = new Map<string, Uint8Array>();
  return {
    name: 'params',
    maxValueBytes: 1 << 20,
    put: async (k, v) => void map.set(k, v),
    get: async (k) => map.get(k),
    delete: async (k) => map.delete(k),
  };
}

function defaultMayPush(source: string | undefined): boolean {
  return !/^(client|worker|observer):/.test(source ?? '');
}

/** The record store's name: `params`, or `<namespace>-params`. */
export function paramsStoreName(namespace: string | undefined): string {
  return namespace === undefined ? 'params' : `${namespace}-params`;
}

export class ParamsService {
  readonly subjects: LlmSubjects;
  private readonly bus: Bus;
  private readonly records: RecordStore;
  private readonly mayPush: (source: string | undefined) => boolean;
  private subs: Subscription[] = [];
  /** Pushes are applied one at a time, so `previous` is always the record they replace. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: ParamsServiceOptions) {
    this.bus = options.bus;
    this.subjects = llmSubjects(options.namespace);
    this.records =
      options.records ??
      options.bus.transport.records?.(paramsStoreName(options.namespace)) ??
      memoryRecords();
    this.mayPush = options.mayPush ?? defaultMayPush;
  }

  async start(): Promise<void> {
    this.subs = [
      this.bus.serve(this.subjects.paramsPush, (req) => this.onPush(req), { kinds: ['event'] }),
      this.bus.serve(
        this.subjects.paramsList,
        async (): Promise<ParamsEvent> => ({ type: 'params.list', data: await this.list() }),
        { kinds: ['event'] },
      ),
    ];
    await Promise.all(this.subs.map((s) => s.ready));
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }

  /** Every current record, by model then adapter. */
  async list(): Promise<RolloutRecord[]> {
    const bytes = await this.records.get(INDEX_KEY);
    if (bytes === undefined) return [];
    const all = JSON.parse(Buffer.from(bytes).toString('utf8')) as RolloutRecord[];
    return all.sort((a, b) => (rolloutKey(a) < rolloutKey(b) ? -1 : 1));
  }

  /**
   * Stores a record as the current one of its model and adapter and announces it. The blob it
   * names must exist with the same sum. `previous` is set from the record it replaces.
   */
  publish(record: RolloutRecord): Promise<RolloutRecord> {
    const run = this.chain.then(() => this.apply(record));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async apply(input: RolloutRecord): Promise<RolloutRecord> {
    const record = checkRolloutRecord(input);
    const manifest = await this.bus.blobs
      .stat(record.blob.name, { version: record.blob.version })
      .catch((err: unknown) => {
        throw err instanceof NotFoundError
          ? new NotFoundError(
              `rollout of ${rolloutKey(record)} names blob '${record.blob.name}@${record.blob.version}', which is not stored: put the file first`,
            )
          : err;
      });
    if (manifest.sum !== record.blob.sum || manifest.size !== record.blob.size) {
      throw new InvalidMessageError(
        `rollout of ${rolloutKey(record)}: blob '${record.blob.name}@${record.blob.version}' has sum ${manifest.sum}, the record says ${record.blob.sum}`,
      );
    }
    const all = await this.list();
    const key = rolloutKey(record);
    const old = all.find((r) => rolloutKey(r) === key);
    const stored: RolloutRecord = { ...record };
    delete stored.previous;
    if (old !== undefined && old.version !== record.version) stored.previous = old.version;
    else if (old?.previous !== undefined) stored.previous = old.previous;
    const next = [...all.filter((r) => rolloutKey(r) !== key), stored];
    await this.records.put(INDEX_KEY, Buffer.from(JSON.stringify(next)));
    const event: ParamsEvent = { type: 'params.rollout', data: stored };
    this.bus.publish(this.subjects.paramsRollouts, event, { kind: 'event' });
    return stored;
  }

  private async onPush(req: Message): Promise<ParamsEvent> {
    const source = req.envelope.source;
    if (!this.mayPush(source)) {
      throw new ForbiddenError(`'${source ?? 'unknown'}' may not push params: operators only`);
    }
    const body = req.body as ParamsEvent;
    if (body.type !== 'params.push') {
      throw new InvalidMessageError(`a params push is an event of type 'params.push'`);
    }
    const record = checkRolloutRecord(body.data);
    const stored = await this.publish({
      ...record,
      ...(source === undefined ? {} : { by: source }),
    });
    return { type: 'params.rollout', data: stored };
  }
}

export function createParamsService(options: ParamsServiceOptions): ParamsService {
  return new ParamsService(options);
}
