// The backends: each one's module, and `createBackend` (create.ts), which loads only the one a
// spec names.

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

export {
  BACKEND_KINDS,
  LLAMA_MODEL_ENV,
  createBackend,
  type BackendKind,
  type BackendSpec,
} from './create.js';
