// Starting the backend of in-process or worker-process workers from the command line, with
// errors that say where to set what is missing and a model server that does not answer
// reported as `unreachable` (exit 3), like a broker.
import { maskCredentials } from '../ops/mask.js';
import { ConfigError, UnavailableError } from '../protocol/index.js';
import type { Backend } from '../llm/backends/backend.js';
import { createBackend } from '../llm/backends/create.js';
import { UnreachableError } from './errors.js';

/** Where the command takes the openai backend's upstream URL from, for the error. */
export interface BackendSource {
  /** e.g. `--upstream URL` or `workers.backend.baseURL in a --config file`. */
  baseURL: string;
}

export async function startBackend(
  spec: Record<string, unknown>,
  source: BackendSource,
): Promise<Backend> {
  if (spec['kind'] === 'openai' && spec['baseURL'] === undefined) {
    throw new ConfigError(
      `the openai backend needs its upstream: set ${source.baseURL} (e.g. http://127.0.0.1:8000/v1; docs/backends.md)`,
    );
  }
  try {
    return await createBackend(spec);
  } catch (err) {
    if (spec['kind'] === 'openai' && err instanceof UnavailableError) {
      const url = maskCredentials(String(spec['baseURL']));
      throw new UnreachableError(
        `the openai backend cannot reach its upstream at ${url} to list its models: ${err.message}; is the model server running there? (with models configured it starts without asking)`,
        { cause: err },
      );
    }
    throw err;
  }
}
