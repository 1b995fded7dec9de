// llmwire/llm: the LLM path — the OpenAI-compatible gateway, the worker runtime, the model
// backends and the routing policies.
export { createGateway, Gateway, type GatewayOptions } from './gateway/server.js';
export { WorkerRegistry } from './gateway/registry.js';
export type { Tenant } from './gateway/http.js';
export { createWorker, Worker, type WorkerOptions, type WorkerStats } from './worker/worker.js';
export * from './backends/index.js';
export * from './routing/index.js';
export * from './subjects.js';
export * from './train/index.js';
export { createParams, Params, type ParamsPushOptions } from './params/client.js';
export { createParamsService, ParamsService, type ParamsServiceOptions } from './params/service.js';
export { ParamsHolder, type ParamsHolderOptions } from './params/holder.js';
export { GatewayRollouts, type RolloutStatus } from './gateway/rollouts.js';
export { RolloutTable } from './routing/rollout.js';
