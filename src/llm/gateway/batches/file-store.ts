// Where the Files API keeps files: each file one blob on the bus's blob store (`bus.blobs`),
// named `<prefix>/<tenant key>/<file id>`, with its metadata (tenant, filename, purpose, expiry)
// in the blob's manifest. The tenant's key is in the name, so a tenant lists and finds only its
// own files: another tenant's file id is, to it, a file that does not exist.
import { createHash, randomBytes } from 'node:crypto';
import type { BlobReader, BlobSource, Blobs } from '../../../bus/blobs.js';
import type { BlobManifest } from '../../../protocol/blob.js';
import { NotFoundError, WireError } from '../../../protocol/index.js';

/** A file as the API shows it (OpenAI `FileObject`). */
export interface FileJson {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  expires_at?: number;
}

export interface FileMeta {
  filename: string;
  purpose: string;
  /** Unix seconds after which the file is gone. */
  expiresAt?: number;
}

const FILE_ID_RE = /^file-[0-9a-f]{24}$/;

/** A new file id: `file-` and 24 hex digits. */
export function newFileId(): string {
  return `file-${randomBytes(12).toString('hex')}`;
}

/** The part of a blob name that stands for a tenant (any tenant name fits a blob name so). */
export function tenantKey(tenant: string): string {
  return createHash('sha256').update(tenant).digest('hex').slice(0, 32);
}

function notFound(id: string): WireError {
  return new NotFoundError(`no file '${id.slice(0, 128)}'`, { details: { param: 'file_id' } });
}

export class FileStore {
  private readonly prefix: string;

  constructor(
    private readonly blobs: Blobs,
    namespace?: string,
  ) {
    this.prefix = namespace === undefined ? 'openai-files' : `${namespace}/openai-files`;
  }

  private name(tenant: string, id: string): string {
    return `${this.prefix}/${tenantKey(tenant)}/${id}`;
  }

  /** Keeps a file; resolves with it once every byte is durable. */
  async put(tenant: string, id: string, source: BlobSource, meta: FileMeta): Promise<FileJson> {
    const manifest = await this.blobs.put(this.name(tenant, id), source, {
      version: '1',
      contentType: 'application/jsonl',
      meta: {
        tenant: tenant.slice(0, 4096),
        filename: meta.filename.slice(0, 4096),
        purpose: meta.purpose,
        ...(meta.expiresAt === undefined ? {} : { expires_at: String(meta.expiresAt) }),
      },
    });
    return fileJson(id, manifest);
  }

  /** Removes what a failed put left behind. */
  async discard(tenant: string, id: string): Promise<void> {
    await this.blobs.delete(this.name(tenant, id)).catch(() => false);
  }

  /** The file, if it is the tenant's and not expired; NotFoundError otherwise. */
  async get(tenant: string, id: string): Promise<FileJson> {
    return fileJson(id, await this.manifest(tenant, id));
  }

  private async manifest(tenant: string, id: string): Promise<BlobManifest> {
    if (!FILE_ID_RE.test(id)) throw notFound(id);
    let manifest: BlobManifest;
    try {
      manifest = await this.blobs.stat(this.name(tenant, id));
    } catch (err) {
      if (err instanceof WireError && err.code === 'not_found') throw notFound(id);
      throw err;
    }
    if (manifest.meta?.tenant !== tenant) throw notFound(id);
    if (expired(manifest)) {
      await this.blobs.delete(manifest.name).catch(() => false);
      throw notFound(id);
    }
    return manifest;
  }

  /** The file's bytes, each part checked against its sum. */
  async open(tenant: string, id: string): Promise<{ file: FileJson; reader: BlobReader }> {
    const manifest = await this.manifest(tenant, id);
    const reader = await this.blobs.open(manifest.name, { version: manifest.version });
    return { file: fileJson(id, manifest), reader };
  }

  /** The tenant's files, oldest first. */
  async list(tenant: string): Promise<FileJson[]> {
    const out: FileJson[] = [];
    for (const entry of await this.blobs.list(`${this.prefix}/${tenantKey(tenant)}/`)) {
      const m = entry.latest;
      if (m.meta?.tenant !== tenant || expired(m)) continue;
      out.push(fileJson(m.name.slice(m.name.lastIndexOf('/') + 1), m));
    }
    return out.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  }

  async delete(tenant: string, id: string): Promise<void> {
    const manifest = await this.manifest(tenant, id);
    await this.blobs.delete(manifest.name);
  }
}

function expired(m: BlobManifest): boolean {
  const at = Number(m.meta?.expires_at ?? NaN);
  return Number.isFinite(at) && at * 1000 <= Date.now();
}

function fileJson(id: string, m: BlobManifest): FileJson {
  const expiresAt = Number(m.meta?.expires_at ?? NaN);
  return {
    id,
    object: 'file',
    bytes: m.size,
    created_at: Math.floor(m.createdAt / 1000),
    filename: m.meta?.filename ?? id,
    purpose: m.meta?.purpose ?? 'batch',
    status: 'processed',
    ...(Number.isFinite(expiresAt) ? { expires_at: expiresAt } : {}),
  };
}
