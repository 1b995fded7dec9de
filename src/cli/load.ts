// The load loop of `llmwire bench`: keeps N chat requests in flight against a gateway (closed
// loop: a slot sends its next request when one ends), streams each answer over SSE, and keeps
// counts and latencies a progress line and the summary are made from.
import { performance } from 'node:perf_hooks';

export interface LoadPlan {
  /** Base URL of the gateway, without /v1. */
  base: string;
  key?: string | undefined;
  model: string;
  maxTokens: number;
  stream: boolean;
  concurrency: number;
  /** Send this many requests... */
  requests?: number | undefined;
  /** ...or keep sending until this long has passed. */
  durationMs?: number | undefined;
  signal?: AbortSignal;
}

export interface LoadCounts {
  started: number;
  done: number;
  errors: number;
  tokens: number;
  inflight: number;
  firstError?: string;
  /** ms, per successful request: time to first token (streams) and to the end. */
  ttftMs: number[];
  latencyMs: number[];
}

export class LoadRun {
  readonly counts: LoadCounts = {
    started: 0,
    done: 0,
    errors: 0,
    tokens: 0,
    inflight: 0,
    ttftMs: [],
    latencyMs: [],
  };
  readonly startedAt = performance.now();
  private readonly body: string;

  constructor(private readonly plan: LoadPlan) {
    this.body = JSON.stringify({
      model: plan.model,
      messages: [{ role: 'user', content: 'llmwire bench: say something' }],
      max_tokens: plan.maxTokens,
      stream: plan.stream,
      ...(plan.stream ? { stream_options: { include_usage: true } } : {}),
    });
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /** Resolves when every request has ended. */
  async run(): Promise<LoadCounts> {
    await Promise.all(Array.from({ length: this.plan.concurrency }, () => this.slot()));
    return this.counts;
  }

  private more(): boolean {
    if (this.plan.signal?.aborted === true) return false;
    if (this.plan.requests !== undefined) return this.counts.started < this.plan.requests;
    return this.elapsedMs() < (this.plan.durationMs ?? 0);
  }

  private async slot(): Promise<void> {
    while (this.more()) {
      this.counts.started++;
      this.counts.inflight++;
      const t0 = performance.now();
      try {
        const { tokens, firstTokenAt } = await this.one();
        const end = performance.now();
        this.counts.done++;
        this.counts.tokens += tokens;
        this.counts.latencyMs.push(end - t0);
        if (firstTokenAt !== undefined) this.counts.ttftMs.push(firstTokenAt - t0);
      } catch (err) {
        this.counts.errors++;
        this.counts.firstError ??= err instanceof Error ? err.message : String(err);
      } finally {
        this.counts.inflight--;
      }
    }
  }

  private async one(): Promise<{ tokens: number; firstTokenAt: number | undefined }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.plan.key !== undefined) headers.authorization = `Bearer ${this.plan.key}`;
    const res = await fetch(`${this.plan.base}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: this.body,
      ...(this.plan.signal === undefined ? {} : { signal: this.plan.signal }),
    });
    if (!res.ok) {
      const text = await res.text();
      let code = `http_${res.status}`;
      try {
        code = (JSON.parse(text) as { error: { code: string } }).error.code;
      } catch {
        // not the gateway's error JSON; the status says enough
      }
      throw new Error(`${res.status} ${code}`);
    }
    if (!this.plan.stream) {
      const answer = (await res.json()) as { usage?: { completion_tokens?: number } };
      return { tokens: answer.usage?.completion_tokens ?? 0, firstTokenAt: undefined };
    }
    return readStream(res);
  }
}

/** Reads an SSE answer: tokens from the usage chunk (or one per content delta), first token
 * time, and a clean end with [DONE] or an error. */
async function readStream(
  res: Response,
): Promise<{ tokens: number; firstTokenAt: number | undefined }> {
  const decoder = new TextDecoder();
  let buffered = '';
  let deltas = 0;
  let usage: number | undefined;
  let firstTokenAt: number | undefined;
  let finished = false;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      if (line.startsWith('event: error')) throw new Error('the stream ended with an error event');
      if (!line.startsWith('data: ')) continue;
      const data = line.slice(6);
      if (data === '[DONE]') {
        finished = true;
        continue;
      }
      const event = JSON.parse(data) as {
        choices?: { delta?: { content?: string } }[];
        usage?: { completion_tokens?: number } | null;
        error?: { code?: string };
      };
      if (event.error !== undefined) throw new Error(`stream error ${event.error.code ?? ''}`);
      if (typeof event.choices?.[0]?.delta?.content === 'string') {
        deltas++;
        firstTokenAt ??= performance.now();
      }
      if (typeof event.usage?.completion_tokens === 'number') usage = event.usage.completion_tokens;
    }
  }
  if (!finished) throw new Error('the stream ended without [DONE]');
  return { tokens: usage ?? deltas, firstTokenAt };
}

/** The p-th percentile (0..100) of unsorted values, nearest rank; undefined when empty. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}
