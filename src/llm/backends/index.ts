// Backends from configuration: `createBackend(spec)` picks the backend named by `kind`, checks
// its options (a ConfigError names the field) and returns it ready to serve.
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../protocol/index.js';
import type { Backend } from './backend.js';
import { createLlamaCppBackend, type LlamaCppBackendOptions } from './llama-cpp/index.js';
import { createOpenAIBackend, type OpenAIBackendOptions } from './openai/index.js';
import { createSimBackend, type SimBackendOptions } from './sim/index.js';

export type { Backend, GenerateEnd, GenerateOptions, TokenDelta } from './backend.js';
export {
  SimBackend,
  createSimBackend,
  type SimBackendOptions,
  type SimFailureOptions,
  type SimPrefill,
} from './sim/index.js';
export {
  OpenAIBackend,
  createOpenAIBackend,
  CONTINUE_INSTRUCTION,
  type ContinuationMode,
  type OpenAIBackendOptions,
} from './openai/index.js';
export {
  LlamaCppBackend,
  createLlamaCppBackend,
  INSTALL_HINT,
  type LlamaCppBackendOptions,
} from './llama-cpp/index.js';

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
    case 'sim':
      return createSimBackend(options);
    case 'openai': {
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
      return createLlamaCppBackend({ ...options, modelPath } as LlamaCppBackendOptions);
    }
  }
}
