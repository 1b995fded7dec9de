// Model parameters and adapters on a fleet (docs/protocol.md, "Params"): the rollout record an
// operator publishes, the entries a worker announces in its heartbeat, and the names requests use
// to reach one adapter or one version (`model@adapter`, `model@adapter:version`, `model:version`).
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BLOB_NAME_RE, BLOB_VERSION_RE, SHA256_SUM_RE } from './blob.js';
import { ConfigError, InvalidMessageError } from './errors.js';

/** Model names a rollout may name: they become part of a blob name, so they use its characters. */
export const PARAMS_MODEL_RE = /^(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}(?<!\/)$/;
/** Adapter names: one token, no `:` (it starts the version) and no `/`. */
export const ADAPTER_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Versions are blob versions (one token of letters, digits and `._+-`). */
export const PARAMS_VERSION_RE = BLOB_VERSION_RE;

export const RolloutRecordSchema = Type.Object(
  {
    /** Record format version; 1 here. */
    rollout: Type.Literal(1),
    model: Type.String({ pattern: PARAMS_MODEL_RE.source }),
    /** The LoRA adapter; absent for the model's own weights (the base). */
    adapter: Type.Optional(Type.String({ pattern: ADAPTER_RE.source })),
    version: Type.String({ pattern: PARAMS_VERSION_RE.source }),
    /** The blob holding the file: its name, version, SHA-256 and size. */
    blob: Type.Object(
      {
        name: Type.String({ pattern: BLOB_NAME_RE.source }),
        version: Type.String({ pattern: BLOB_VERSION_RE.source }),
        sum: Type.String({ pattern: SHA256_SUM_RE.source }),
        size: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    /** Share of the target's unpinned traffic sent to this version, (0, 1]. */
    share: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    /** The version this one replaces, which takes the rest of the traffic. */
    previous: Type.Optional(Type.String({ pattern: PARAMS_VERSION_RE.source })),
    /** Who pushed it (the pusher's stamped `source`), when known. */
    by: Type.Optional(Type.String({ maxLength: 256 })),
    /** When it was published, ms since the epoch. */
    createdAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RolloutRecord = Static<typeof RolloutRecordSchema>;

/** One version a worker holds, as its heartbeat announces it (`Heartbeat.params`). */
export const HeldParamsSchema = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 128 }),
  adapter: Type.Optional(Type.String({ pattern: ADAPTER_RE.source })),
  version: Type.String({ pattern: PARAMS_VERSION_RE.source }),
  /** `loading` while fetched and loaded, `loaded` once requests may use it, `failed` otherwise. */
  state: Type.Union([Type.Literal('loading'), Type.Literal('loaded'), Type.Literal('failed')]),
  /** The error code of a failed load. */
  error: Type.Optional(Type.String({ maxLength: 64 })),
});
export type HeldParams = Static<typeof HeldParamsSchema>;

const recordCheck = TypeCompiler.Compile(RolloutRecordSchema);

/** Checks a rollout record from outside; InvalidMessageError naming the first bad field. */
export function checkRolloutRecord(value: unknown): RolloutRecord {
  if (recordCheck.Check(value)) return value;
  const first = recordCheck.Errors(value).First();
  throw new InvalidMessageError(
    `rollout record: ${first?.path === '' || first === undefined ? '/' : first.path} ${first?.message ?? 'is not valid'}`,
  );
}

/** What a request names: a model, maybe one of its adapters, maybe one version. */
export interface ParamsTarget {
  readonly model: string;
  readonly adapter?: string | undefined;
  readonly version?: string | undefined;
}

/**
 * Reads `model@adapter:version` (adapter and version optional). Without `@`, a `:version` is
 * read only when `isModel` says the part before the last `:` is a model and the whole is not
 * (model names such as `llama3:8b` keep their colon).
 */
export function parseTarget(
  name: string,
  isModel: (m: string) => boolean = () => false,
): ParamsTarget {
  const at = name.indexOf('@');
  if (at > 0) {
    const model = name.slice(0, at);
    const rest = name.slice(at + 1);
    const colon = rest.lastIndexOf(':');
    const adapter = colon < 0 ? rest : rest.slice(0, colon);
    const version = colon < 0 ? undefined : rest.slice(colon + 1);
    return { model, adapter: adapter === '' ? undefined : adapter, version };
  }
  if (!isModel(name)) {
    const colon = name.lastIndexOf(':');
    if (colon > 0 && isModel(name.slice(0, colon))) {
      return { model: name.slice(0, colon), version: name.slice(colon + 1) };
    }
  }
  return { model: name };
}

/** `model@adapter:version` (the parts that are set). */
export function targetName(t: ParamsTarget): string {
  return `${t.model}${t.adapter === undefined ? '' : `@${t.adapter}`}${t.version === undefined ? '' : `:${t.version}`}`;
}

/** True when the request names something beyond the model (an adapter or a version). */
export function isParamsTarget(t: ParamsTarget): boolean {
  return t.adapter !== undefined || t.version !== undefined;
}

/** The blob a version's file is kept in: `params/<model>/base` or `params/<model>/adapter/<a>`. */
export function paramsBlobName(model: string, adapter?: string): string {
  return adapter === undefined ? `params/${model}/base` : `params/${model}/adapter/${adapter}`;
}

/** Checks the names of a push; ConfigError saying what a name may hold. */
export function checkParamsNames(t: { model: unknown; adapter?: unknown; version: unknown }): void {
  if (typeof t.model !== 'string' || !PARAMS_MODEL_RE.test(t.model) || t.model.includes('@')) {
    throw new ConfigError(
      `params model ${JSON.stringify(t.model)} is not valid: 1 to 128 letters, digits and "._/:-", no "@"`,
    );
  }
  if (t.adapter !== undefined && (typeof t.adapter !== 'string' || !ADAPTER_RE.test(t.adapter))) {
    throw new ConfigError(
      `params adapter ${JSON.stringify(t.adapter)} is not valid: 1 to 64 letters, digits and "._-"`,
    );
  }
  if (typeof t.version !== 'string' || !PARAMS_VERSION_RE.test(t.version)) {
    throw new ConfigError(
      `params version ${JSON.stringify(t.version)} is not valid: 1 to 128 letters, digits and "._+-", starting with a letter or digit`,
    );
  }
}
