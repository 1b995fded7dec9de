// Params rollouts for an OpenAI-compatible upstream: the upstream holds the weights, so loading
// a version means telling it, through a hook URL the operator configures (a small service beside
// vLLM that calls its /v1/load_lora_adapter, say). The hook gets a POST with what to load and
// answers 2xx once the upstream serves it; its JSON answer may name the upstream model to ask
// for that version (`{"model": "fr-v2"}`), by default the adapter's name (vLLM's `lora_name`).
import { ConfigError, UpstreamError } from '../../../protocol/index.js';
import type { ParamsLoad, ParamsUse } from '../params.js';

/** What the hook is sent (JSON): the version, and the verified file on the worker's disk. */
export interface ParamsHookBody {
  action: 'load' | 'unload';
  model: string;
  adapter?: string | undefined;
  version: string;
  path?: string;
  sum?: string;
  size?: number;
}

function key(model: string, adapter: string | undefined, version: string): string {
  return `${model}@${adapter ?? ''}:${version}`;
}

export class ParamsHook {
  private readonly names = new Map<string, string>();

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly timeoutMs: number,
  ) {
    if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
      throw new ConfigError(
        `openai backend: 'paramsHook' must be an http(s) URL, got ${JSON.stringify(url)}`,
      );
    }
  }

  async load(load: ParamsLoad): Promise<void> {
    const answer = await this.call(
      {
        action: 'load',
        model: load.model,
        ...(load.adapter === undefined ? {} : { adapter: load.adapter }),
        version: load.version,
        path: load.path,
        sum: load.sum,
        size: load.size,
      },
      load.signal,
    );
    const named = (answer as { model?: unknown } | undefined)?.model;
    const upstream =
      typeof named === 'string' && named !== '' ? named : (load.adapter ?? load.model);
    this.names.set(key(load.model, load.adapter, load.version), upstream);
  }

  async unload(p: { model: string; adapter?: string | undefined; version: string }): Promise<void> {
    this.names.delete(key(p.model, p.adapter, p.version));
    await this.call({ action: 'unload', ...p }, undefined).catch(() => undefined);
  }

  /** The upstream model name for a request that names a loaded version. */
  upstreamModel(model: string, use: ParamsUse): string {
    const name = this.names.get(key(model, use.adapter, use.version));
    if (name === undefined) {
      throw new UpstreamError(
        `params ${key(model, use.adapter, use.version)} are not loaded upstream`,
      );
    }
    return name;
  }

  private async call(body: ParamsHookBody, signal: AbortSignal | undefined): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.headers },
        body: JSON.stringify(body),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
    } catch (cause) {
      throw new UpstreamError(`the params hook did not answer: ${(cause as Error).message}`, {
        cause,
      });
    }
    const text = await res.text();
    if (!res.ok) {
      throw new UpstreamError(
        `the params hook answered ${res.status} to ${body.action} ${key(body.model, body.adapter, body.version)}: ${text.slice(0, 200)}`,
        { details: { status: res.status } },
      );
    }
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }
}
