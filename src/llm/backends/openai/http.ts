// The hot path to the upstream: chat and completion POSTs over node:http(s) with a keep-alive
// agent. fetch (the SDK's transport) costs several times more CPU per request than node:http,
// mostly in web streams; failures are raised as the SDK's own error classes, so errors.ts maps
// them exactly as it maps the SDK's (status errors with their body and headers, connection
// errors with their system code).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';

export interface PostOptions {
  signal: AbortSignal;
  /** Headers of this request only (trace context). */
  headers?: Record<string, string> | undefined;
}

export class UpstreamHttp {
  private readonly url: URL;
  private readonly request: typeof httpRequest;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;

  /** `baseURL` is the API root (…/v1); `headers` go on every request. */
  constructor(baseURL: string, headers: Record<string, string>) {
    this.url = new URL(baseURL.replace(/\/+$/, ''));
    const https = this.url.protocol === 'https:';
    this.request = https ? httpsRequest : httpRequest;
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.headers = headers;
  }

  /**
   * POSTs `body` as JSON to the API root + `path`; resolves with the response once its status
   * is 2xx, its body unread. Rejects with APIError (status, parsed error body, headers) for any
   * other status, APIConnectionError when no response came, APIUserAbortError when aborted.
   */
  post(path: string, body: unknown, options: PostOptions): Promise<IncomingMessage> {
    const payload = Buffer.from(JSON.stringify(body));
    const { signal } = options;
    if (signal.aborted) return Promise.reject(new APIUserAbortError());
    return new Promise((resolve, reject) => {
      const req = this.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path: `${this.url.pathname}${path}${this.url.search}`,
          method: 'POST',
          agent: this.agent,
          signal,
          headers: {
            ...this.headers,
            ...options.headers,
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': payload.length,
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(res);
            return;
          }
          readAll(res).then(
            (text) => reject(statusError(status, text, res)),
            (err: unknown) => reject(statusError(status, String(err), res)),
          );
        },
      );
      req.on('error', (err) => {
        if (signal.aborted) reject(new APIUserAbortError());
        else reject(new APIConnectionError({ message: 'Connection error.', cause: err }));
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The whole body of a response as text. */
export async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** As the SDK builds it: the body as JSON when it parses, else as the message. */
function statusError(status: number, text: string, res: IncomingMessage): APIError {
  let json: object | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) json = parsed;
  } catch {
    // not JSON: the text is the message
  }
  return APIError.generate(status, json, json === undefined ? text : undefined, toHeaders(res));
}

export function toHeaders(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}
