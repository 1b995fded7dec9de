// Publishing model parameters and adapters to a fleet: `createParams(bus).push(file, ...)` puts
// the file as a blob and asks the rollout service to make it the current version; `list` reads
// the current records, `watch` hears new ones (docs/dataplane.md).
import { Type } from '@sinclair/typebox';
import type { BlobProgress, BlobSource } from '../../bus/blobs.js';
import type { Bus } from '../../bus/index.js';
import type { Subscription } from '../../bus/subscription.js';
import {
  checkParamsNames,
  checkRolloutRecord,
  InvalidMessageError,
  optionsCheck,
  paramsBlobName,
  type RolloutRecord,
} from '../../protocol/index.js';
import { llmSubjects, type LlmSubjects } from '../subjects.js';
import type { ParamsEvent } from './service.js';

export interface ParamsPushOptions {
  model: string;
  /** The LoRA adapter; absent for the model's own weights. */
  adapter?: string;
  version: string;
  /** Share of the unpinned traffic for this version, (0, 1]. Default 1 (all of it). */
  share?: number;
  contentType?: string;
  partBytes?: number;
  signal?: AbortSignal;
  onProgress?: (progress: BlobProgress) => void;
  /** How long to wait for the rollout service. Default 30 s. */
  timeoutMs?: number;
}

const checkPush = optionsCheck(
  'params push',
  Type.Object(
    {
      model: Type.String(),
      adapter: Type.Optional(Type.String()),
      version: Type.String(),
      share: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
      contentType: Type.Optional(Type.String()),
      partBytes: Type.Optional(Type.Integer()),
      signal: Type.Optional(Type.Object({})),
      onProgress: Type.Optional(Type.Function([Type.Unknown()], Type.Unknown())),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
);

function recordOf(reply: unknown, what: string): RolloutRecord {
  const event = reply as ParamsEvent;
  if (event?.type !== 'params.rollout') {
    throw new InvalidMessageError(`the rollout service answered ${what} with no rollout record`);
  }
  return checkRolloutRecord(event.data);
}

export class Params {
  readonly subjects: LlmSubjects;

  constructor(
    private readonly bus: Bus,
    options: { namespace?: string | undefined } = {},
  ) {
    this.subjects = llmSubjects(options.namespace);
  }

  /**
   * Puts `source` (a file path, bytes or a stream) as the blob of this version and publishes
   * the rollout record; resolves with the record as stored (its `previous` filled in). Putting
   * the same file again resumes an interrupted upload; pushing the same version again with
   * another share changes only the share.
   */
  async push(source: string | BlobSource, options: ParamsPushOptions): Promise<RolloutRecord> {
    checkPush(options);
    checkParamsNames(options);
    const name = paramsBlobName(options.model, options.adapter);
    const meta: Record<string, string> = { model: options.model, version: options.version };
    if (options.adapter !== undefined) meta.adapter = options.adapter;
    const put = {
      version: options.version,
      meta,
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(options.partBytes === undefined ? {} : { partBytes: options.partBytes }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    };
    const manifest =
      typeof source === 'string'
        ? await this.bus.blobs.putFile(name, source, put)
        : await this.bus.blobs.put(name, source, put);
    const record: RolloutRecord = {
      rollout: 1,
      model: options.model,
      ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
      version: options.version,
      blob: { name, version: manifest.version, sum: manifest.sum, size: manifest.size },
      share: options.share ?? 1,
      createdAt: Date.now(),
    };
    return this.publish(record, options.timeoutMs);
  }

  /** Publishes a record for a blob already stored (e.g. to change a rollout's share). */
  async publish(record: RolloutRecord, timeoutMs = 30_000): Promise<RolloutRecord> {
    const body: ParamsEvent = { type: 'params.push', data: checkRolloutRecord(record) };
    const reply = await this.bus.request(this.subjects.paramsPush, body, {
      kind: 'event',
      timeoutMs,
    });
    return recordOf(reply.body, 'the push');
  }

  /** The current record of every model and adapter. */
  async list(timeoutMs = 10_000): Promise<RolloutRecord[]> {
    const body: ParamsEvent = { type: 'params.list' };
    const reply = await this.bus.request(this.subjects.paramsList, body, {
      kind: 'event',
      timeoutMs,
    });
    const event = reply.body as ParamsEvent;
    if (event?.type !== 'params.list' || !Array.isArray(event.data)) {
      throw new InvalidMessageError('the rollout service answered the list with no records');
    }
    return event.data.map((r) => checkRolloutRecord(r));
  }

  /** Calls `onRecord` with each record published from now on; bad ones go to `onError`. */
  watch(onRecord: (r: RolloutRecord) => void, onError?: (err: unknown) => void): Subscription {
    return this.bus.subscribe<ParamsEvent>(this.subjects.paramsRollouts, (msg) => {
      try {
        onRecord(recordOf(msg.body, 'an announcement'));
      } catch (err) {
        if (onError !== undefined) onError(err);
        else this.bus.reportError(err, msg.envelope);
      }
    });
  }
}

export function createParams(bus: Bus, options: { namespace?: string } = {}): Params {
  return new Params(bus, options);
}
