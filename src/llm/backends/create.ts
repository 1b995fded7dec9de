// Backends from configuration: `createBackend(spec)` picks the backend named by `kind`, checks
// its options (a ConfigError names the field) and returns it ready to serve. Each backend's
// module is loaded only when a spec names it: the openai backend brings the OpenAI SDK (about
// 14 MB of resident memory), which a deployment of sim or llama-cpp workers never needs.
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../protocol/index.js';
import type { Backend } from './backend.js';
import type { LlamaCppBackendOptions } from './llama-cpp/index.js';
import type { OpenAIBackendOptions } from './openai/index.js';
import type { SimBackendOptions } from './sim/index.js';

export type BackendKind = 'sim' | 'openai' | 'llama-cpp';
export const BACKEND_KINDS: readonly BackendKind[] = ['sim', 'openai', 'llama-cpp'];

export type BackendSpec =
  | ({ kind: 'sim' } & SimBackendOptions)
  | ({ kind: 'openai' } & OpenAIBackendOptions)
  | ({ kind: 'llama-cpp' } & Partial<LlamaCppBackendOptions>);

/** The kind picks the backend; the backend checks the rest of the spec. */
const checkSpec = optionsCheck(
  'backend',
  Type.Object({ kind: Type.Union(BACKEND_KINDS.map((kind) => Type.Literal(kind))) }),
);

/** Environment variable naming the GGUF file when a llama-cpp spec has no modelPath. */
export const LLAMA_MODEL_ENV = 'LLMWIRE_LLAMA_MODEL';

/**
 * Makes a backend from a config object such as `{ kind: 'sim', itlMs: 20 }`. The openai
 * backend learns its models from the upstream here when none are configured; the llama-cpp
 * backend loads its model here.
 */
export async function createBackend(
  spec: unknown,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Backend> {
  const { kind, ...options } = checkSpec(spec) as { kind: BackendKind } & Record<string, unknown>;
  switch (kind) {
    case 'sim': {
      const { createSimBackend } = await import('./sim/index.js');
      return createSimBackend(options);
    }
    case 'openai': {
      const { createOpenAIBackend } = await import('./openai/index.js');
      const backend = createOpenAIBackend(options as unknown as OpenAIBackendOptions);
      await backend.init();
      return backend;
    }
    case 'llama-cpp': {
      const modelPath = options['modelPath'] ?? env[LLAMA_MODEL_ENV];
      if (modelPath === undefined) {
        throw new ConfigError(
          `llama-cpp backend: 'modelPath' is required (or set ${LLAMA_MODEL_ENV} to a .gguf file)`,
        );
      }
      const { createLlamaCppBackend } = await import('./llama-cpp/index.js');
      return createLlamaCppBackend({ ...options, modelPath } as LlamaCppBackendOptions);
    }
  }
}
