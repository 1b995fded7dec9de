// The OpenAI Files API, for batch input and output: `POST /v1/files` (multipart, purpose
// `batch`, the JSONL checked line by line as it arrives), `GET /v1/files`, `GET /v1/files/{id}`,
// `GET /v1/files/{id}/content` and `DELETE /v1/files/{id}`. Files live on the bus's blob store
// (file-store.ts); each is visible only to the tenant that made it. Clients and operators may
// use it (docs/security.md).
import { InvalidMessageError } from '../../../protocol/index.js';
import { sendJson, type Ctx } from '../http.js';
import { FileStore, newFileId, type FileJson } from './file-store.js';
import { JsonlChecker, type JsonlLimits } from './jsonl.js';
import { readUpload } from './multipart.js';
import { listPage } from './page.js';

export interface FilesLimits extends JsonlLimits {
  /** Largest file, in bytes. */
  maxFileBytes: number;
}

/** OpenAI's limits on a batch input file: 200 MB and 50,000 requests. */
export const DEFAULT_FILES_LIMITS: FilesLimits = {
  maxFileBytes: 200 * 1024 * 1024,
  maxLines: 50_000,
  maxLineBytes: 4 * 1024 * 1024,
};

const MIN_EXPIRY_S = 3600;
const MAX_EXPIRY_S = 30 * 24 * 3600;

export class FilesApi {
  constructor(
    readonly store: FileStore,
    private readonly limits: FilesLimits,
  ) {}

  async create(ctx: Ctx): Promise<void> {
    const tenant = ctx.tenant.name;
    const id = newFileId();
    let file: FileJson;
    try {
      const upload = await readUpload(
        ctx,
        { maxFileBytes: this.limits.maxFileBytes, maxFields: 8 },
        async (bytes, filename) => {
          const checker = new JsonlChecker(this.limits);
          async function* checked() {
            for await (const chunk of bytes) {
              checker.push(chunk);
              yield chunk;
            }
            checker.end();
          }
          return this.store.put(tenant, id, checked(), { filename, purpose: 'batch' });
        },
      );
      const purpose = upload.fields.purpose;
      if (purpose === undefined) {
        throw new InvalidMessageError("'purpose' is required: send purpose=batch", {
          details: { param: 'purpose' },
        });
      }
      if (purpose !== 'batch') {
        throw new InvalidMessageError(
          `purpose '${purpose.slice(0, 64)}' is not served here; only 'batch' is`,
          { details: { param: 'purpose' } },
        );
      }
      file = upload.file;
      const expiresAt = expiry(upload.fields, file.created_at);
      if (expiresAt !== undefined) {
        // The expiry is part of the manifest: the file is written again with it (parts are kept).
        file = await this.restamp(tenant, id, file, expiresAt);
      }
    } catch (err) {
      await this.store.discard(tenant, id);
      throw err;
    }
    sendJson(ctx, 200, file);
  }

  private async restamp(
    tenant: string,
    id: string,
    file: FileJson,
    expiresAt: number,
  ): Promise<FileJson> {
    const { reader } = await this.store.open(tenant, id);
    return this.store.put(tenant, id, reader, {
      filename: file.filename,
      purpose: file.purpose,
      expiresAt,
    });
  }

  async retrieve(ctx: Ctx, id: string): Promise<void> {
    sendJson(ctx, 200, await this.store.get(ctx.tenant.name, id));
  }

  async list(ctx: Ctx): Promise<void> {
    const purpose = ctx.url.searchParams.get('purpose');
    const all = await this.store.list(ctx.tenant.name);
    const files = purpose === null ? all : all.filter((f) => f.purpose === purpose);
    sendJson(ctx, 200, listPage(ctx, files, 10_000));
  }

  async content(ctx: Ctx, id: string): Promise<void> {
    const { file, reader } = await this.store.open(ctx.tenant.name, id);
    ctx.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': file.bytes,
      'content-disposition': `attachment; filename="${file.filename.replace(/[^\w.-]/g, '_')}"`,
      'x-request-id': ctx.requestId,
    });
    try {
      for await (const part of reader) {
        if (ctx.signal.aborted) break;
        if (!ctx.res.write(part)) {
          await new Promise<void>((resolve) => {
            ctx.res.once('drain', resolve);
            ctx.res.once('close', resolve);
          });
        }
      }
      ctx.res.end();
    } catch {
      // Headers are out: a part that fails its sum cuts the answer short rather than lie.
      ctx.res.destroy();
    }
  }

  async delete(ctx: Ctx, id: string): Promise<void> {
    await this.store.delete(ctx.tenant.name, id);
    sendJson(ctx, 200, { id, object: 'file', deleted: true });
  }
}

/** `expires_after[anchor]=created_at` and `expires_after[seconds]` -> unix seconds, if sent. */
function expiry(fields: Record<string, string>, createdAt: number): number | undefined {
  const anchor = fields['expires_after[anchor]'];
  const seconds = fields['expires_after[seconds]'];
  if (anchor === undefined && seconds === undefined) return undefined;
  if (anchor !== 'created_at') {
    throw new InvalidMessageError("expires_after.anchor must be 'created_at'", {
      details: { param: 'expires_after.anchor' },
    });
  }
  const n = Number(seconds);
  if (!Number.isInteger(n) || n < MIN_EXPIRY_S || n > MAX_EXPIRY_S) {
    throw new InvalidMessageError(
      `expires_after.seconds must be an integer from ${MIN_EXPIRY_S} to ${MAX_EXPIRY_S}`,
      { details: { param: 'expires_after.seconds' } },
    );
  }
  return createdAt + n;
}
