// The sim's params loads: a load reads the verified file through (as a real load would) and
// takes `paramsLoadMs`; requests may then name the version. Nothing about the answer changes.
import { createReadStream } from 'node:fs';
import { NotFoundError, UpstreamError } from '../../../protocol/index.js';
import type { ParamsLoad, ParamsUse } from '../params.js';
import { sleep } from '../signal.js';

function key(model: string, adapter: string | undefined, version: string): string {
  return `${model}@${adapter ?? ''}:${version}`;
}

export class SimParams {
  private readonly loaded = new Set<string>();

  constructor(private readonly loadMs: number) {}

  async load(load: ParamsLoad): Promise<void> {
    let bytes = 0;
    for await (const chunk of createReadStream(load.path, { highWaterMark: 1 << 20 })) {
      bytes += (chunk as Buffer).byteLength;
      if (load.signal?.aborted === true) break;
    }
    if (bytes !== load.size) {
      throw new UpstreamError(
        `sim params load of ${key(load.model, load.adapter, load.version)}: read ${bytes} bytes, expected ${load.size}`,
      );
    }
    if (this.loadMs > 0) await sleep(this.loadMs, load.signal ?? new AbortController().signal);
    this.loaded.add(key(load.model, load.adapter, load.version));
  }

  unload(p: { model: string; adapter?: string | undefined; version: string }): void {
    this.loaded.delete(key(p.model, p.adapter, p.version));
  }

  check(model: string, use: ParamsUse): void {
    if (!this.loaded.has(key(model, use.adapter, use.version))) {
      throw new NotFoundError(
        `params ${key(model, use.adapter, use.version)} are not loaded on this backend`,
      );
    }
  }
}
