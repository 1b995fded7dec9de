// Subjects of the LLM path (docs/llm.md): heartbeats on one subject, and a private address per
// worker that the router sends to.
export const HEARTBEAT_SUBJECT = 'llm.heartbeat';

export function workerAddress(workerId: string): string {
  return `llm.worker.${workerId}`;
}
export function chatSubject(workerId: string): string {
  return `${workerAddress(workerId)}.chat`;
}
export function embedSubject(workerId: string): string {
  return `${workerAddress(workerId)}.embed`;
}

const WORKER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export function isValidWorkerId(id: string): boolean {
  return WORKER_ID_RE.test(id);
}
